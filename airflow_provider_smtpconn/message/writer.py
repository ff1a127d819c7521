"""The one MIME writer: a message's wire form, written once, as a :class:`WireMessage`.

Two doors lead here. ``compose.py`` writes a request's message with :class:`WireWriter` and the part writers
below, without building an ``EmailMessage`` first (for a small message most of the time would go to the
``email`` package's header objects, once when a header is set and again when it is folded). And
:func:`from_email_message` writes a standard library ``EmailMessage`` that Python code hands to the hook:
its headers take the same short way where they are plain, and its leaves are written from their encoded payload.

Attachments are never held encoded: a :class:`Base64Source` keeps the raw bytes (or the path of a local file)
and encodes them a slice at a time while the message is written, so a 25 MiB attachment costs a few hundred KiB
of memory, not several copies of the file. A :class:`WireMessage` writes the same bytes every time, so a retry
sends what the first try sent and a dry run writes what a send would send.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import MIMEPart
from typing import TYPE_CHECKING, BinaryIO, cast

from airflow_provider_smtpconn.message.envelope import Envelope
from airflow_provider_smtpconn.message.headers import (
    MAX_LINE,
    MAX_LINE_HARD,
    SMTP,
    check_header,
    folded_line,
    is_plain,
    naming_field,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message
    from email.policy import EmailPolicy, Policy
    from pathlib import Path

    from airflow_provider_smtpconn.message.attachments import Attachment

CRLF = b"\r\n"
# 57 raw bytes make one 76-character base64 line (RFC 2045 section 6.8); encode whole lines at a time.
_RAW_PER_LINE = 57
_LINES_PER_CHUNK = 1024


class Base64Source:
    """An attachment's content, base64-encoded only while it is written.

    :param source: The raw content, or the path of a local file (read once per write, a slice at a time).
    """

    def __init__(self, source: bytes | Path) -> None:
        self.source = source
        self.raw_size = len(source) if isinstance(source, bytes) else source.stat().st_size

    @property
    def encoded_size(self) -> int:
        """The size of the base64 body with CRLF line ends, in bytes, computed without reading the source."""
        n = self.raw_size
        return 4 * -(-n // 3) + -(-n // _RAW_PER_LINE) * 2

    def chunks(self) -> Iterator[bytes]:
        """The base64 body in slices of about 76 KiB, each ending with CRLF."""
        step = _RAW_PER_LINE * _LINES_PER_CHUNK
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for start in range(0, len(view), step):
                yield base64.encodebytes(view[start : start + step]).replace(b"\n", CRLF)
            return
        with self.source.open("rb") as file:
            while chunk := file.read(step):
                yield base64.encodebytes(chunk).replace(b"\n", CRLF)


@dataclass(frozen=True)
class WireMessage:
    """One message as it goes on the wire: its bytes (RFC 5322, CRLF line ends, Bcc left out), envelope and
    Message-ID; what every send, retry and dry run writes.

    :param pieces: Header and body bytes, and the attachments' :class:`Base64Source` in their place.
    :param size: The total size in bytes (what SIZE announces, RFC 1870).
    :param envelope: MAIL FROM and RCPT TO addresses (Bcc included).
    :param message_id: The Message-ID header's value, with its angle brackets.
    :param body_8bit: Whether the bytes hold 8-bit data that could not be re-encoded (a nested message written
        by the ``email`` package): it needs ``BODY=8BITMIME`` (RFC 6152), and a server without it is refused.
    """

    pieces: tuple[bytes | Base64Source, ...]
    size: int
    envelope: Envelope
    message_id: str
    body_8bit: bool = False

    def chunks(self) -> Iterator[bytes]:
        """The message's bytes in order, attachments encoded a slice at a time."""
        for piece in self.pieces:
            if isinstance(piece, Base64Source):
                yield from piece.chunks()
            else:
                yield piece

    def write_to(self, file: BinaryIO) -> None:
        """Write the message to a binary file (an ``.eml``): the bytes a send would send."""
        for chunk in self.chunks():
            file.write(chunk)

    def as_bytes(self) -> bytes:
        """The whole message in memory (for small messages and tests)."""
        return b"".join(self.chunks())


class WireWriter:
    """Collects a message's pieces in order; :meth:`finish` makes the :class:`WireMessage`."""

    def __init__(self) -> None:
        self._pieces: list[bytes | Base64Source] = []
        self._run: list[bytes] = []
        self.size = 0
        self.body_8bit = False

    def write(self, data: bytes) -> None:
        """Add header or body bytes."""
        self._run.append(data)
        self.size += len(data)

    def stream(self, source: Base64Source) -> None:
        """Add an attachment's base64 body, encoded when the message is written."""
        self._end_run()
        self._pieces.append(source)
        self.size += source.encoded_size

    def finish(self, envelope: Envelope, message_id: str) -> WireMessage:
        """The message written so far, with its envelope and Message-ID."""
        self._end_run()
        return WireMessage(tuple(self._pieces), self.size, envelope, message_id, self.body_8bit)

    def _end_run(self) -> None:
        if self._run:
            self._pieces.append(b"".join(self._run))
            self._run = []


def new_boundary() -> str:
    """A multipart boundary that cannot occur in base64 or quoted-printable text (RFC 2046 section 5.1.1)."""
    return "=" * 15 + secrets.token_hex(16) + "=="


def text_part(subtype: str, body: str) -> bytes:
    """Headers, blank line and body of a ``text/<subtype>`` part in UTF-8: 7bit if ASCII with lines of at most 998
    octets (RFC 5322 section 2.1.1), else quoted-printable (8bit would need 8BITMIME from every relay on the way).
    """
    data = body.encode("utf-8", "surrogateescape")
    lines = data.splitlines()
    if body.isascii() and all(len(line) <= MAX_LINE_HARD for line in lines):
        cte, payload = b"7bit", CRLF.join(lines) + CRLF
    else:
        cte, payload = b"quoted-printable", quoted_printable(lines)
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + payload
    )


def quoted_printable(lines: list[bytes]) -> bytes:
    """Text lines (without their ends) as a quoted-printable body with CRLF line ends (RFC 2045 section 6.7)."""
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", CRLF)


def attachment_head(attachment: Attachment, disposition: str) -> bytes:
    """The headers and blank line of an attachment's part; its body follows as a :class:`Base64Source`.

    The file name goes as an RFC 2231 parameter where it needs one, folded by the guarded policy.

    :raises HeaderInjectionError: naming ``attachments: filename`` (or ``content_id``) and the value.
    """
    field, value = "attachments: filename", attachment.filename
    if attachment.content_id is not None and _decodes_unsafely(f"<{attachment.content_id}>"):
        field, value = "attachments: content_id", attachment.content_id
    part = MIMEPart(policy=SMTP)
    with naming_field(field, value):
        part["Content-Type"] = attachment.content_type
        part["Content-Transfer-Encoding"] = "base64"
        part["Content-Disposition"] = disposition
        part.set_param("filename", attachment.filename, header="Content-Disposition")
        if attachment.content_id is not None:
            part["Content-ID"] = f"<{attachment.content_id}>"
    return b"".join(SMTP.fold_binary(name, v) for name, v in part.raw_items()) + CRLF


def _decodes_unsafely(value: str) -> bool:
    from airflow_provider_smtpconn.exceptions import HeaderInjectionError

    try:
        SMTP.header_store_parse("Content-ID", value)
    except HeaderInjectionError:
        return True
    return False


# -- the second door: a standard library message ----------------------------------------------------------------


def from_email_message(
    message: Message, envelope: Envelope | None = None, *, message_id_domain: str | None = None
) -> WireMessage:
    """``message`` (an ``email.message.EmailMessage``, or a legacy ``Message``) as a :class:`WireMessage`.

    The Bcc header is left out; a Message-ID at ``message_id_domain`` (default: the sender's domain, never this
    machine's name) is added if there is none. Every header passes the header guard (a value that is, or decodes
    to, a line break is refused), whatever the message's policy. A multipart part without a boundary gets one on
    the wire. A part with 8-bit data (``8bit`` or ``binary``) is re-encoded 7-bit safe, text as quoted-printable
    and anything else as base64: not every server on the way offers 8BITMIME (RFC 6152), and a DKIM signature
    must survive a relay's own conversion (RFC 6376 section 5.3). The caller's message is not changed.

    :param envelope: Sender and recipients; default: read from Sender/From and To/Cc/Bcc.
    :raises InvalidMessageError: if there is no sender or recipient; :class:`HeaderInjectionError` for a header.
    """
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
    _write_part(writer, message, policy, top=True)
    return writer.finish(envelope, str(message_id).strip())


def _write_part(writer: WireWriter, part: Message, policy: Policy, *, top: bool = False) -> None:
    subparts = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(subparts, list):
        boundary = part.get_boundary()
        missing = boundary is None
        if boundary is None:  # chosen here, as the generator would, without changing the caller's message
            boundary = new_boundary()
        delimiter = b"--" + boundary.encode("ascii")
        _write_headers(writer, part, policy, top, boundary=boundary if missing else None)
        writer.write(CRLF)
        if part.preamble is not None:
            writer.write(_crlf_lines(part.preamble.encode("utf-8", "surrogateescape")) + CRLF)
        for index, subpart in enumerate(subparts):
            writer.write((CRLF if index else b"") + delimiter + CRLF)
            _write_part(writer, subpart, policy)
        writer.write(CRLF + delimiter + b"--" + CRLF)
        if part.epilogue is not None:
            writer.write(_crlf_lines(part.epilogue.encode("utf-8", "surrogateescape")))
        return
    payload = _leaf_payload(part)
    if payload is None:  # a nested message/rfc822, or a payload the email package keeps otherwise
        _write_headers(writer, part, policy, top, check_only=True)
        generated = _generated(part, policy, top=top)
        writer.body_8bit |= not _body_of(generated).isascii()
        writer.write(generated)
        return
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if payload.isascii() and cte != "binary" and all(len(line) <= MAX_LINE_HARD for line in payload.split(CRLF)):
        _write_headers(writer, part, policy, top)
        writer.write(CRLF + payload)
        return
    cte, payload = _seven_bit(part)
    _write_headers(writer, part, policy, top, cte=cte)
    writer.write(CRLF + payload)


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
        if (top and name.lower() == "bcc") or (cte is not None and name.lower() == "content-transfer-encoding"):
            continue
        text = value if isinstance(value, str) else str(value)
        if boundary is not None and name.lower() == "content-type":
            value = text = f'{text}; boundary="{boundary}"'
        if is_plain(text) and len(name) + 2 + len(text) <= MAX_LINE:
            line = f"{name}: {text}\r\n".encode("ascii")
        else:
            check_header(name, value)
            line = folded_line(name, value, policy, name)
        if not check_only:
            writer.write(line)
    if cte is not None and not check_only:
        writer.write(f"Content-Transfer-Encoding: {cte}\r\n".encode("ascii"))


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


def _seven_bit(part: Message) -> tuple[str, bytes]:
    """A leaf with 8-bit data, re-encoded: text as quoted-printable (its lines, CRLF-ended), anything else as
    base64 (its bytes exactly); the transfer encoding and the body with CRLF line ends.
    """
    data = part._payload.encode("ascii", "surrogateescape")  # type: ignore[attr-defined]  # the 8-bit bytes
    if part.get_content_maintype() == "text":
        return "quoted-printable", quoted_printable(data.splitlines())
    return "base64", base64.encodebytes(data).replace(b"\n", CRLF)


def _body_of(generated: bytes) -> bytes:
    end = generated.find(CRLF + CRLF)
    return generated[end:] if end >= 0 else b""
