"""The hook's second door into the one writer: a standard library message, written as a ``WireMessage``.

Python code that calls the hook builds an ``email.message.EmailMessage`` (or a legacy ``Message``, or one parsed
from an ``.eml``). :func:`from_email_message` writes it with the same :class:`~.writer.WireWriter` as a composed
request: a header that is plain (printable ASCII, no encoded word, no RFC 2231 parameter, short) is written as it
is; any other passes the package's header guard (the value as given, unfolded, and as decoded, parameters
included) and is folded by the message's own policy, but for unstructured text that is not plain (a non-ASCII
``Subject``), which ``encoded_words.py`` writes so that it decodes exactly as given. Leaves are written from their
encoded payload, 8-bit ones re-encoded 7-bit safe; the parts the ``email`` package keeps in a form of its own (a
nested ``message/rfc822``) are written by its generator.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email import errors
from email.generator import BytesGenerator
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.envelope import Envelope
from airflow_provider_smtpconn.message.headers import MAX_LINE, MAX_LINE_HARD, SMTP, fold_plain, folded_line, is_plain
from airflow_provider_smtpconn.message.writer import CRLF, WireMessage, WireWriter, new_boundary, quoted_printable

if TYPE_CHECKING:
    from email.message import Message
    from email.policy import EmailPolicy, Policy

#: RFC 5322 section 2.2: a field name is printable ASCII other than the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
#: RFC 5322 section 2.2.3: a line break followed by white space is folding, and unfolds to nothing.
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
#: RFC 2046 section 5.1.1: a boundary is 1 to 70 characters of these.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def from_email_message(
    message: Message, envelope: Envelope | None = None, *, message_id_domain: str | None = None
) -> WireMessage:
    """``message`` (an ``email.message.EmailMessage``, or a legacy ``Message``) as a ``WireMessage``.

    The Bcc header is left out; a Message-ID at ``message_id_domain`` (default: the sender's domain, never this
    machine's name) and a Date are added where missing. Every header passes the header guard, whatever the
    message's policy: a field name that is not printable ASCII without a colon, or a value that is or decodes to a
    line break, is refused; folded headers (a message parsed from an ``.eml``) are unfolded first. A multipart part
    without a boundary gets one on the wire; the caller's message is not changed. A leaf with 8-bit bytes is
    re-encoded 7-bit safe, text as quoted-printable and anything else as base64: not every server on the way
    offers 8BITMIME (RFC 6152), and a DKIM signature must survive a relay's own conversion (RFC 6376 section 5.3).
    A nested message with 8-bit bytes, which the ``email`` package writes itself, makes the message announce
    ``BODY=8BITMIME`` (and a server without it refuse the message).

    :param envelope: Sender and recipients; default: read from Sender/From and To/Cc/Bcc.
    :raises HeaderInjectionError: for a header name or value that could inject a header.
    :raises InvalidMessageError: if there is no sender or recipient, a line would pass 998 octets (RFC 5322
        section 2.1.1), a boundary is not one RFC 2046 allows, a part is ``binary``, or the message cannot be
        written at all (text that is not ASCII without a charset, say).
    """
    try:
        return _write_message(message, envelope, message_id_domain)
    except (UnicodeError, LookupError, errors.MessageError) as exc:
        raise InvalidMessageError(
            f"The message cannot be written for the wire ({type(exc).__name__}: {exc}); build it with "
            "email.message.EmailMessage and set_content(), which encode text and choose the boundaries."
        ) from None


def _write_message(message: Message, envelope: Envelope | None, message_id_domain: str | None) -> WireMessage:
    envelope = envelope or Envelope.of(message)
    policy = message.policy.clone(linesep="\r\n")
    if envelope.needs_smtputf8 and hasattr(policy, "utf8"):
        policy = cast("EmailPolicy", policy).clone(utf8=True)
    writer = WireWriter()
    message_id = message["Message-ID"]
    if message_id is None:
        from airflow_provider_smtpconn.message.compose import id_domain, make_message_id

        message_id = make_message_id(id_domain(envelope.sender, message_id_domain))
        writer.write(f"Message-ID: {message_id}\r\n".encode("ascii"))
    if message["Date"] is None:  # RFC 5322 section 3.6: every message has one
        writer.write(f"Date: {format_datetime(datetime.now(timezone.utc))}\r\n".encode("ascii"))
    eight_bit = _write_part(writer, message, policy, top=True)
    return writer.finish(envelope, _unfold(str(message_id)).strip(), body_8bit=eight_bit)


def _write_part(writer: WireWriter, part: Message, policy: Policy, *, top: bool = False) -> bool:
    """Write ``part``; whether it holds 8-bit bytes."""
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "binary":
        raise InvalidMessageError(
            "A part of the message has Content-Transfer-Encoding binary, which needs BINARYMIME (RFC 3030); "
            "encode it as base64 or quoted-printable."
        )
    subparts = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(subparts, list):
        return _write_multipart(writer, part, subparts, policy, top=top)
    payload = _leaf_payload(part)
    if payload is None:  # a nested message/rfc822, or a payload the email package keeps otherwise
        _write_headers(writer, part, policy, top, check_only=True)
        data = _generated(part, policy, top=top)
        _check_lines("a nested part", data)
        writer.write(data)
        return not data.isascii()
    if not payload.isascii():  # 8-bit bytes: re-encoded, so the message goes through any server unchanged
        cte, payload = _seven_bit(part)
        _write_headers(writer, part, policy, top, cte=cte)
        writer.write(CRLF + payload)
        return False
    _write_headers(writer, part, policy, top)
    _check_lines("a body", payload)
    writer.write(CRLF + payload)
    return False


def _write_multipart(writer: WireWriter, part: Message, subparts: list[Any], policy: Policy, *, top: bool) -> bool:
    boundary = part.get_boundary()
    missing = boundary is None
    if boundary is None:  # chosen here, as the generator would, without changing the caller's message
        boundary = new_boundary()
    _write_headers(writer, part, policy, top, boundary=boundary if missing else None)  # the guard first
    if not _BOUNDARY.fullmatch(boundary):
        raise InvalidMessageError(f"The multipart boundary {boundary[:80]!r} is not one RFC 2046 section 5.1.1 allows.")
    delimiter = b"--" + boundary.encode("ascii")
    writer.write(CRLF)
    if part.preamble is not None:
        writer.write(_crlf_lines(part.preamble.encode("utf-8", "surrogateescape")) + CRLF)
    eight_bit = False
    for index, subpart in enumerate(subparts):
        writer.write((CRLF if index else b"") + delimiter + CRLF)
        eight_bit |= _write_part(writer, subpart, policy)
    writer.write(CRLF + delimiter + b"--" + CRLF)
    if part.epilogue is not None:
        writer.write(_crlf_lines(part.epilogue.encode("utf-8", "surrogateescape")))
    return eight_bit


def _write_headers(
    writer: WireWriter,
    part: Message,
    policy: Policy,
    top: bool,
    *,
    boundary: str | None = None,
    check_only: bool = False,
    cte: str | None = None,
) -> None:
    """Write ``part``'s headers (Bcc left out at the top); ``boundary`` is added to a Content-Type without one, and
    ``cte`` replaces the Content-Transfer-Encoding (or is added).
    """
    for name, value in part.raw_items():
        if not _FIELD_NAME.fullmatch(name):
            raise HeaderInjectionError(
                "A header name", name, "is not printable ASCII without a colon or space (RFC 5322 section 2.2)"
            )
        if (top and name.lower() == "bcc") or (cte is not None and name.lower() == "content-transfer-encoding"):
            continue
        text = _unfold(value if isinstance(value, str) else str(value))
        if boundary is not None and name.lower() == "content-type":
            value = text = f'{text}; boundary="{boundary}"'
        plain = is_plain(text) and "*=" not in text  # nothing in it can decode to anything else
        if plain and len(name) + 2 + len(text) <= MAX_LINE:
            line = f"{name}: {text}\r\n".encode("ascii")
        elif plain and (folded := fold_plain(name, text)) is not None:
            line = folded  # a long plain value (a Content-Type with its boundary): folded at its spaces
        else:
            SMTP.header_store_parse(name, text)  # the guard: as given, as decoded, every RFC 2231 parameter
            line = folded_line(name, value, policy, name)
            _check_lines(f"the {name} header", line)
        if not check_only:
            writer.write(line)
    if cte is not None and not check_only:
        writer.write(f"Content-Transfer-Encoding: {cte}\r\n".encode("ascii"))


def _seven_bit(part: Message) -> tuple[str, bytes]:
    """A leaf with 8-bit bytes, re-encoded: text as quoted-printable (its lines, CRLF-ended), anything else as
    base64 (its bytes exactly); the transfer encoding and the body with CRLF line ends.
    """
    import base64

    data = part._payload.encode("ascii", "surrogateescape")  # type: ignore[attr-defined]  # the 8-bit bytes
    if part.get_content_maintype() == "text":
        return "quoted-printable", quoted_printable(data.splitlines())
    return "base64", base64.encodebytes(data).replace(b"\n", CRLF)


def _unfold(text: str) -> str:
    return _FOLDING.sub("", text)


def _check_lines(what: str, data: bytes) -> None:
    longest = max((len(line) for line in data.split(CRLF)), default=0)
    if longest > MAX_LINE_HARD:
        raise InvalidMessageError(
            f"The message's {what} has a line of {longest} octets; RFC 5322 section 2.1.1 allows 998: fold the "
            "header, or encode the body as quoted-printable or base64."
        )


def _leaf_payload(part: Message) -> bytes | None:
    """A leaf's encoded body with CRLF line ends, or ``None`` where the ``email`` package must write it."""
    payload = part._payload  # type: ignore[attr-defined]  # the encoded body, as the email generator reads it
    if not isinstance(payload, str):
        return None
    try:
        data = payload.encode("ascii", "surrogateescape")  # 8bit bodies keep their bytes as surrogates
    except UnicodeEncodeError:
        return None
    return _crlf_lines(data) + (CRLF if data.endswith((b"\n", b"\r")) else b"")


def _generated(part: Message, policy: Policy, *, top: bool) -> bytes:
    """``part`` as the ``email`` package's generator writes it, for the parts it keeps in its own form."""
    import copy
    import io

    if top:
        part = copy.copy(part)  # the header list is replaced, not changed, by del
        del part["Bcc"]
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(part, linesep="\r\n")
    return buffer.getvalue()


def _crlf_lines(data: bytes) -> bytes:
    return CRLF.join(data.splitlines())
