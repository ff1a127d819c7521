"""A request to its wire form: every parameter checked, the message written once (:func:`compose`).

Addresses are parsed once, for the headers and the envelope. Headers are written by ``headers.py`` (plain values
as they are, anything else through the guarded policy), bodies and attachments by ``writer.py``. The shapes:
one body, or ``multipart/alternative`` (text, then HTML); inline images (attachments with a ``content_id``)
with the HTML part in ``multipart/related``; other attachments with all that in ``multipart/mixed``.
"""

from __future__ import annotations

import hashlib
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.addresses import header_addresses
from airflow_provider_smtpconn.message.attachments import normalize_attachments
from airflow_provider_smtpconn.message.dsn import parse_dsn
from airflow_provider_smtpconn.message.envelope import Envelope
from airflow_provider_smtpconn.message.headers import (
    SMTP,
    SMTP_UTF8,
    address_header,
    custom_header_lines,
    header_line,
    text_header,
)
from airflow_provider_smtpconn.message.unsubscribe import unsubscribe_lines
from airflow_provider_smtpconn.message.writer import (
    CRLF,
    Base64Source,
    WireWriter,
    attachment_head,
    new_boundary,
    text_part,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from airflow_provider_smtpconn.message.attachments import Attachment
    from airflow_provider_smtpconn.message.request import EmailRequest
    from airflow_provider_smtpconn.message.writer import WireMessage

    Part = Callable[[WireWriter], None]

#: ``importance`` -> the Importance (RFC 2156) and X-Priority values.
IMPORTANCE = {
    "high": ("high", "1 (Highest)"),
    "normal": ("normal", "3 (Normal)"),
    "low": ("low", "5 (Lowest)"),
}


def compose(
    request: EmailRequest,
    *,
    identity: tuple[Any, ...] = (),
    max_attachment_bytes: int | None = None,
    date: datetime | None = None,
    message_id_domain: str | None = None,
    envid: str | None = None,
) -> WireMessage:
    """The message ``request`` describes, as it goes on the wire; ``request.from_email`` must be set.

    :param identity: What makes the Message-ID stable (the same values give the same Message-ID); empty for a
        random one.
    :param max_attachment_bytes: The largest single attachment, in bytes; ``None`` for no limit.
    :param date: The Date header; default: now.
    :param message_id_domain: The Message-ID's right-hand side; default: the domain of ``from_email`` (never
        ``localhost`` or this machine's name, which receivers' spam filters count against a message).
    :param envid: The DSN ENVID when ``request.dsn`` asks for DSN and gives none (RFC 3461 section 4.4).
    :raises InvalidMessageError: naming the parameter and the value at fault (:class:`AttachmentError` and
        :class:`HeaderInjectionError` among its subclasses).
    """
    sender = header_addresses(request.from_email, "from_email")
    if len(sender) != 1:
        raise InvalidMessageError(f"from_email {request.from_email!r} must be exactly one address.")
    to, cc, bcc = (header_addresses(v, n) for v, n in ((request.to, "to"), (request.cc, "cc"), (request.bcc, "bcc")))
    reply_to = header_addresses(request.reply_to, "reply_to")
    if not (to or cc or bcc):
        raise InvalidMessageError("No recipient: give at least one address in to, cc or bcc.")
    (sender_addr, sender_text) = sender[0]
    recipients = [addr for addr, _ in (*to, *cc, *bcc)]
    dsn = parse_dsn(request.dsn)
    if dsn is not None and dsn.envid is None and envid:
        dsn = dsn.with_envid(envid)
    envelope = Envelope.from_addresses(sender_addr, recipients, dsn)
    policy = SMTP_UTF8 if envelope.needs_smtputf8 else SMTP
    message_id = make_message_id(id_domain(sender_addr, message_id_domain), *identity)

    writer = WireWriter()
    writer.write(address_header("From", [sender_text], "from_email", policy))
    for name, found in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if found:
            field = name.lower().replace("-", "_")
            writer.write(address_header(name, [text for _, text in found], field, policy))
    writer.write(text_header("Subject", _text("subject", request.subject or ""), "subject"))
    writer.write(header_line("Date", format_datetime(date) if date else _now()))
    writer.write(header_line("Message-ID", message_id))
    for line in _importance(request.importance):
        writer.write(line)
    for line in custom_header_lines(request.headers):
        writer.write(line)
    for line in unsubscribe_lines(request.list_unsubscribe):
        writer.write(line)
    writer.write(b"MIME-Version: 1.0\r\n")
    attachments = normalize_attachments(request.attachments, max_attachment_bytes)
    _body(request.text, request.html, attachments)(writer)
    return writer.finish(envelope, message_id)


def make_message_id(domain: str, *identity: Any) -> str:
    """A Message-ID at ``domain`` (an ASCII domain, see :func:`id_domain`; RFC 5322 section 3.6.4): derived from
    ``identity`` if given (stable), else random.
    """
    if identity:
        digest = hashlib.sha256("\x1f".join(map(str, identity)).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    else:
        import secrets

        digest = secrets.token_hex(16)
    return f"<{digest}@{domain}>"


def id_domain(sender: str, configured: str | None = None) -> str:
    """The Message-ID's right-hand side: ``configured`` if given, else the domain of ``sender`` (an addr-spec), in
    ASCII (IDNA for a non-ASCII domain, so the header stays ASCII).

    :raises InvalidMessageError: if neither is a domain name.
    """
    from airflow_provider_smtpconn.message.addresses import ascii_domain

    given = configured or sender.rpartition("@")[2]
    domain = ascii_domain(given)
    if domain is None:
        raise InvalidMessageError(
            f"The Message-ID domain {given!r} (from {'message_id_domain' if configured else 'from_email'}) is not a "
            "domain name; set the connection's message_id_domain."
        )
    if domain.lower().rstrip(".") in ("localhost", "localhost.localdomain") or domain.lower().endswith(".localhost"):
        raise InvalidMessageError(
            f"The Message-ID domain {given!r} (from {'message_id_domain' if configured else 'from_email'}) is "
            "localhost, which receivers cannot tell apart from anyone else's; set the connection's "
            "message_id_domain to a domain you own."
        )
    return domain


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessageError(f"{name} {value!r} is not text.")
    return value


def _now() -> str:
    from datetime import datetime, timezone

    return format_datetime(datetime.now(timezone.utc))


def _importance(importance: str | None) -> list[bytes]:
    if importance is None:
        return []
    level = str(importance).strip().lower()
    if level not in IMPORTANCE:
        raise InvalidMessageError(f"importance {importance!r} is not one of high, normal or low.")
    value, priority = IMPORTANCE[level]
    return [header_line("Importance", value), header_line("X-Priority", priority)]


# -- the body's parts: each a function that writes its headers and body -------------------------------------------


def _body(text: str | None, html: str | None, attachments: list[Attachment]) -> Part:
    for name, given in (("text", text), ("html", html)):
        if given is not None and not isinstance(given, str):
            raise InvalidMessageError(f"{name} must be text, not {type(given).__name__}.")
    plain = "" if text is None and html is None else text
    inline = [a for a in attachments if a.content_id] if html is not None else []
    attached = [a for a in attachments if not (a.content_id and html is not None)]
    html_part = None if html is None else _leaf(text_part("html", html))
    if html_part is not None and inline:
        html_part = _multipart("related", [html_part, *(_attachment(a, "inline") for a in inline)])
    bodies = [p for p in (None if plain is None else _leaf(text_part("plain", plain)), html_part) if p is not None]
    body = bodies[0] if len(bodies) == 1 else _multipart("alternative", bodies)
    if not attached:
        return body
    parts = [_attachment(a, "inline" if a.content_id else "attachment") for a in attached]
    return _multipart("mixed", [body, *parts])


def _leaf(data: bytes) -> Part:
    return lambda writer: writer.write(data)


def _attachment(attachment: Attachment, disposition: str) -> Part:
    head = attachment_head(attachment, disposition)  # checked now, before anything is written
    source = Base64Source(attachment.source)

    def write(writer: WireWriter) -> None:
        writer.write(head)
        writer.stream(source)

    return write


def _multipart(subtype: str, parts: list[Part]) -> Part:
    def write(writer: WireWriter) -> None:
        delimiter = b"--" + new_boundary().encode("ascii")
        writer.write(b"Content-Type: multipart/" + subtype.encode("ascii") + b'; boundary="' + delimiter[2:] + b'"')
        writer.write(CRLF + CRLF)
        for index, part in enumerate(parts):
            writer.write((CRLF if index else b"") + delimiter + CRLF)
            part(writer)
        writer.write(CRLF + delimiter + b"--" + CRLF)

    return write
