"""Composing the common message shapes straight to wire bytes, for senders of many messages (a mail merge).

:func:`compose_wire` checks a :class:`~airflow_provider_smtpconn.message.compose.EmailSpec` exactly as
:func:`~airflow_provider_smtpconn.message.compose.compose_message` does, but writes the headers and bodies itself instead
of building an ``EmailMessage`` and flattening it: for a small message most of the time goes to the ``email``
package's header objects, once when a header is set and again when it is folded. Only plain values take the
short way: an address ``local@domain.tld`` (with an ASCII display name, quoted where RFC 5322 needs it), a header
of printable ASCII without encoded words that fits on a line or folds at spaces. Any other value (non-ASCII
text, an encoded word, an unusual address) is parsed, guarded and folded by the same policy ``compose`` uses, and
attachments are the same :class:`~airflow_provider_smtpconn.smtp.data.StreamedPart` leaves. A message with inline
images (``content_id``) is left to ``compose`` (the function returns ``None``).
"""

from __future__ import annotations

import binascii
import re
import secrets
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.message import compose
from airflow_provider_smtpconn.message.envelope import Envelope
from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.headers import SMTP, add_custom_headers, naming_field
from airflow_provider_smtpconn.smtp.data import CRLF, RenderedMessage, write_message
from airflow_provider_smtpconn.smtp.transaction import Outgoing

if TYPE_CHECKING:
    from collections.abc import Iterable

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+"
_PLAIN = re.compile(_ADDR)
_NAMED = re.compile(rf'(?:"([A-Za-z0-9 !#$%&\'*+/=?^_`{{|}}~.,:;@()\[\]<>-]*)"|([A-Za-z0-9 \'-]*?)) *<({_ADDR})>')
_SPECIALS = frozenset('()<>@,:;."[]')
_MAX_LINE = 78


class _Wire(RenderedMessage):
    """A :class:`RenderedMessage` filled by :func:`compose_wire` instead of by flattening a message."""

    def __init__(self) -> None:
        self.pieces = []
        self.size = 0
        self._run = []

    def finish(self) -> _Wire:
        self._end_run()
        return self


def compose_wire(spec: compose.EmailSpec) -> Outgoing | None:
    """The message for ``spec`` as the transport sends it, or ``None`` if it has inline images.

    :raises InvalidMessageError: exactly where :func:`compose.compose_message` would, naming the field and value.
    """
    if any(a.content_id for a in spec.attachments):
        return None
    sender = _addresses(spec.sender, "from_email")
    if len(sender) != 1:
        raise InvalidMessageError(f"from_email {spec.sender!r} must be exactly one address.")
    to, cc, bcc = (_addresses(v, n) for v, n in ((spec.to, "to"), (spec.cc, "cc"), (spec.bcc, "bcc")))
    reply_to = _addresses(spec.reply_to, "reply_to")
    if not (to or cc or bcc):
        raise InvalidMessageError("No recipient: give at least one address in to, cc or bcc.")
    sender_addr, sender_text = sender[0]
    recipients = [addr for addr, _ in (*to, *cc, *bcc)]
    envelope = Envelope.from_addresses(sender_addr, recipients)
    if envelope.needs_smtputf8:
        return None  # non-ASCII addresses: compose and the transport's UTF-8 policy handle them
    message_id = spec.message_id or compose.make_message_id(sender_addr.rpartition("@")[2], *spec.identity)
    head = [_address_header("From", [sender_text], "from_email")]
    for name, found in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if found:
            head.append(_address_header(name, [text for _, text in found], name.lower().replace("-", "_")))
    head.append(_text_header("Subject", compose._check_text("subject", spec.subject or ""), "subject"))
    head.append(_line("Date", format_datetime(spec.date) if spec.date else compose._now()))
    head.append(_line("Message-ID", message_id))
    head.extend(_importance(spec.importance))
    head.extend(_custom(spec.headers))
    wire = _Wire()
    wire.write(b"".join(head) + b"MIME-Version: 1.0\r\n")
    _write_body(wire, spec)
    return Outgoing(wire.finish(), envelope, message_id, False)


# -- addresses ------------------------------------------------------------------------------------------------


def _addresses(value: Any, field_name: str) -> list[tuple[str, str]]:
    """``(addr_spec, header text)`` per address, unique; plain ones by pattern, the rest by ``compose``."""
    pieces = _pieces(value)
    if pieces is None:
        return [(a.addr_spec, str(a)) for a in compose.parse_addresses(value, field_name)]
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for piece in pieces:
        parsed = _plain(piece)
        if parsed is None:  # anything unusual: the full parser decides, and names every invalid address
            return [(a.addr_spec, str(a)) for a in compose.parse_addresses(value, field_name)]
        if parsed[0].lower() not in seen:
            seen.add(parsed[0].lower())
            found.append(parsed)
    return found


def _pieces(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = (value,)
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    pieces: list[str] = []
    for item in items:
        if item is None:
            continue
        if not isinstance(item, str) or '"' in item:
            return None  # quoted names may hold separators: the full splitter handles them
        pieces.extend(p.strip() for p in item.replace(";", ",").split(",") if p.strip())
    return pieces


def _plain(text: str) -> tuple[str, str] | None:
    if _PLAIN.fullmatch(text):
        return (text, text) if _within_limits(text) else None
    named = _NAMED.fullmatch(text)
    if named is None:
        return None
    name = " ".join((named.group(1) if named.group(1) is not None else named.group(2)).split())
    addr = named.group(3)
    if not _within_limits(addr):
        return None
    if not name:
        return addr, addr
    if not _SPECIALS.isdisjoint(name):
        name = '"' + name + '"'
    return addr, f"{name} <{addr}>"


def _within_limits(addr: str) -> bool:
    """RFC 5321 section 4.5.3.1 (as ``compose`` checks it): local part at most 64 octets, domain at most 255."""
    local, _, domain = addr.rpartition("@")
    return len(local) <= 64 and len(domain) <= 255


# -- headers --------------------------------------------------------------------------------------------------


def _line(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("ascii")


def _is_plain(value: str) -> bool:
    return value.isascii() and value.isprintable() and "=?" not in value


def _folded(name: str, words: list[str], separator: str) -> bytes | None:
    """``name: words`` joined by ``separator``, folded before a word where a line would pass 78 characters."""
    lines, current = [], f"{name}:"
    for index, word in enumerate(words):
        piece = word + (separator.rstrip() if index < len(words) - 1 else "")
        if len(current) + 1 + len(piece) > _MAX_LINE and current != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + piece
        if len(current) > 998:
            return None
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _address_header(name: str, texts: list[str], field: str) -> bytes:
    if all(_is_plain(t) for t in texts):
        folded = _folded(name, texts, ", ")
        if folded is not None:
            return folded
    joined = ", ".join(texts)
    return _by_policy(name, joined, field, joined)


def _text_header(name: str, value: str, field: str) -> bytes:
    if _is_plain(value) and "  " not in value and value == value.strip():
        folded = _folded(name, value.split(" "), " ") if value else f"{name}: \r\n".encode("ascii")
        if folded is not None:
            return folded
    return _by_policy(name, value, field)


def _by_policy(name: str, value: str, field: str, shown: str | None = None) -> bytes:
    """Parse, guard and fold ``value`` as ``compose`` does (``msg[name] = value``), for anything not plain; an
    error names ``field`` (and ``shown``, if given, as the value).
    """
    with naming_field(field, shown):
        stored_name, header = SMTP.header_store_parse(name, value)
    return SMTP.fold_binary(stored_name, header)


def _importance(importance: str | None) -> list[bytes]:
    if importance is None:
        return []
    level = str(importance).strip().lower()
    if level not in compose.IMPORTANCE:
        raise InvalidMessageError(f"importance {importance!r} is not one of high, normal or low.")
    importance_value, priority = compose.IMPORTANCE[level]
    return [_line("Importance", importance_value), _line("X-Priority", priority)]


def _custom(headers: Any) -> list[bytes]:
    """The ``headers`` parameter, checked and folded by ``headers.add_custom_headers`` itself (on a scratch
    message): the same names refused, the same guard, the same errors.
    """
    if headers is None or headers == "":
        return []
    scratch = EmailMessage(policy=SMTP)
    add_custom_headers(scratch, headers)
    return [SMTP.fold_binary(name, value) for name, value in scratch.raw_items()]


# -- bodies ---------------------------------------------------------------------------------------------------


def _write_body(wire: _Wire, spec: compose.EmailSpec) -> None:
    for name, body in (("text", spec.text), ("html", spec.html)):
        if body is not None and not isinstance(body, str):
            raise InvalidMessageError(f"{name} must be text, not {type(body).__name__}.")
    text = "" if spec.text is None and spec.html is None else spec.text
    bodies = [_leaf(sub, body) for sub, body in (("plain", text), ("html", spec.html)) if body is not None]
    attachments = [compose._part(a, "attachment") for a in spec.attachments]
    if not attachments:
        _write_alternatives(wire, bodies, top=True)
        return
    boundary = _boundary()
    wire.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode("ascii"))
    wire.write(b"--" + boundary.encode("ascii") + CRLF)
    _write_alternatives(wire, bodies, top=False)
    for part in attachments:
        wire.write(CRLF + b"--" + boundary.encode("ascii") + CRLF)
        write_message(part, wire, SMTP)
    wire.write(CRLF + b"--" + boundary.encode("ascii") + b"--" + CRLF)


def _write_alternatives(wire: _Wire, bodies: list[bytes], *, top: bool) -> None:
    if len(bodies) == 1:
        wire.write(bodies[0])
        return
    boundary = _boundary().encode("ascii")
    wire.write(b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n--' + boundary + CRLF)
    wire.write(bodies[0] + CRLF + b"--" + boundary + CRLF + bodies[1])
    wire.write(CRLF + b"--" + boundary + b"--" + CRLF)


def _leaf(subtype: str, body: str) -> bytes:
    """Headers, blank line and encoded body of a ``text/<subtype>`` part (7bit if ASCII with lines of at most
    998 octets, else quoted-printable: 8bit would need 8BITMIME from every relay on the way).
    """
    data = body.encode("utf-8", "surrogateescape")
    lines = data.splitlines()
    if body.isascii() and all(len(line) <= 998 for line in lines):
        cte, payload = b"7bit", CRLF.join(lines) + CRLF
    else:
        encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", quotetabs=False, istext=True, header=False)
        cte, payload = b"quoted-printable", encoded.replace(b"\n", CRLF)
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + payload
    )


def _boundary() -> str:
    return "=" * 15 + secrets.token_hex(16) + "=="
