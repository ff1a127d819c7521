"""Parameters to ``email.message.EmailMessage``: addresses, headers, bodies, attachments, Message-ID.

Plain Python over the standard library's ``email`` package with the ``SMTP`` policy (CRLF line ends, and
header values that may not contain line breaks). The operator and the notifier both call
:func:`compose_message`; nothing here knows about Airflow's context.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_smtpconn.message.envelope import Envelope
from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.headers import HEADERS as _HEADERS
from airflow_provider_smtpconn.message.headers import SMTP, add_custom_headers, naming_field
from airflow_provider_smtpconn.smtp.data import StreamedPart
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime
    from email.headerregistry import Address

    from airflow_provider_smtpconn.message.attachments import Attachment

IMPORTANCE = {
    "high": ("high", "1 (Highest)"),
    "normal": ("normal", "3 (Normal)"),
    "low": ("low", "5 (Lowest)"),
}


@dataclass
class EmailSpec:
    """What one email says, before it becomes an ``EmailMessage``; every field is checked in :meth:`build`."""

    sender: str
    to: Any = None
    cc: Any = None
    bcc: Any = None
    reply_to: Any = None
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    importance: str | None = None
    headers: Mapping[str, Any] | None = None
    message_id: str | None = None
    #: Values that make the Message-ID stable (same values, same Message-ID); empty for a random one.
    identity: tuple[Any, ...] = ()
    date: datetime | None = None

    def build(self) -> EmailMessage:
        """Compose the message, or raise :class:`InvalidMessageError` naming the field and value at fault."""
        return compose_message(self).message

    def compose(self) -> ComposedEmail:
        """Compose the message and its envelope from the same parsed addresses.

        :raises InvalidMessageError: naming the field and value at fault (subclasses for attachments and
            header injection).
        """
        return compose_message(self)


@dataclass(frozen=True)
class ComposedEmail:
    """A composed message and its SMTP envelope (the addresses parsed once, for both)."""

    message: EmailMessage
    envelope: Envelope


def parse_addresses(value: Any, field_name: str) -> list[Address]:
    """Parse ``value`` (text separated by ``,`` or ``;``, or a list of such) into unique addresses.

    ``"Doe, Jane" <jane@example.org>`` stays one address; empty entries are dropped; every address is checked
    and all invalid ones are named in one error.
    """
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("[") and looks_rendered(value):
        value = read_back(value, field_name)  # a list Jinja rendered to text
    if isinstance(value, str):
        pieces = _split(value)
    elif isinstance(value, (list, tuple, set)):
        pieces = []
        for item in value:
            if item is None:
                continue
            if not isinstance(item, str):
                raise InvalidMessageError(f"{field_name} has {item!r}, which is not an address (text).")
            pieces.extend(_split(item))
    else:
        raise InvalidMessageError(f"{field_name} {value!r} is not an address, a list of addresses, or text.")
    addresses: list[Address] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        try:
            address = _parse_one(piece)
        except ValueError:
            invalid.append(piece)
            continue
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            addresses.append(address)
    if invalid:
        raise InvalidMessageError(f"{field_name} has invalid address{'es' if len(invalid) > 1 else ''}: {invalid}.")
    return addresses


def _split(text: str) -> list[str]:
    """Split on ``,`` and ``;`` outside quotes, angle brackets and comments."""
    if "\r" in text or "\n" in text:
        return [text]  # rejected by _parse_one with the whole value shown
    pieces: list[str] = []
    current: list[str] = []
    quoted, depth, angle = False, 0, False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")" and depth:
            depth -= 1
        elif not quoted and char in "<>":
            angle = char == "<"
        elif not quoted and not depth and not angle and char in ",;":
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def _parse_one(text: str) -> Address:
    if any(c in text for c in "\r\n\0"):
        raise ValueError(text)
    from email import errors

    try:
        header = _HEADERS("to", text)
    except (IndexError, errors.HeaderParseError):  # the parser fails on some malformed input, e.g. "a@"
        raise ValueError(text) from None
    groups = header.groups  # type: ignore[attr-defined]
    # A non-ASCII local part is valid with SMTPUTF8 (RFC 6531); the transport checks the server offers it.
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(groups) != 1 or groups[0].display_name or len(groups[0].addresses) != 1:
        raise ValueError(text)
    address: Address = groups[0].addresses[0]
    local, _, domain = address.addr_spec.rpartition("@")
    if (not local or not domain or "." not in domain.strip(".")) and domain.lower() != "localhost":
        raise ValueError(text)
    quoted = len(local) > 1 and local.startswith('"') and local.endswith('"')
    if any(c.isspace() for c in domain) or (not quoted and any(c.isspace() for c in local)):
        raise ValueError(text)
    if ".." in domain or domain.startswith((".", "-")) or not _within_limits(local, domain):
        raise ValueError(text)
    return address


def _within_limits(local: str, domain: str) -> bool:
    """RFC 5321 section 4.5.3.1: a local part of at most 64 octets, a domain of at most 255, labels of at most 63."""
    labels = domain.strip("[]").split(".")
    return len(local.encode()) <= 64 and len(domain.encode()) <= 255 and all(len(x.encode()) <= 63 for x in labels)


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessageError(f"{name} {value!r} is not text.")
    return value


def _decodes_unsafely(value: str) -> bool:
    try:
        SMTP.header_store_parse("Content-ID", value)
    except HeaderInjectionError:
        return True
    return False


def _body_cte(body: str) -> str | None:
    # Non-ASCII bodies go as quoted-printable: 8bit would need 8BITMIME from every relay on the way.
    return None if body.isascii() else "quoted-printable"


def compose_message(spec: EmailSpec) -> ComposedEmail:
    """Build the ``EmailMessage`` and envelope for ``spec``; see :class:`EmailSpec`.

    :raises InvalidMessageError: naming the field and value at fault.
    """
    senders = parse_addresses(spec.sender, "from_email")
    if len(senders) != 1:
        raise InvalidMessageError(f"from_email {spec.sender!r} must be exactly one address.")
    to, cc, bcc = (parse_addresses(v, n) for v, n in ((spec.to, "to"), (spec.cc, "cc"), (spec.bcc, "bcc")))
    reply_to = parse_addresses(spec.reply_to, "reply_to")
    if not (to or cc or bcc):
        raise InvalidMessageError("No recipient: give at least one address in to, cc or bcc.")

    msg = EmailMessage(policy=SMTP)
    with naming_field("from_email", str(senders[0])):
        msg["From"] = senders[0]
    for name, addresses in (("To", to), ("Cc", cc), ("Bcc", bcc), ("Reply-To", reply_to)):
        if addresses:
            with naming_field(name.lower().replace("-", "_"), ", ".join(map(str, addresses))):
                msg[name] = addresses
    with naming_field("subject"):
        msg["Subject"] = _check_text("subject", spec.subject or "")
    msg["Date"] = format_datetime(spec.date) if spec.date else _now()
    msg["Message-ID"] = spec.message_id or make_message_id(senders[0].domain, *spec.identity)
    _set_importance(msg, spec.importance)
    add_custom_headers(msg, spec.headers)
    _set_bodies(msg, spec.text, spec.html)
    _attach(msg, spec.attachments, has_html=spec.html is not None, has_text=spec.text is not None)
    for part in msg.iter_parts():  # add_alternative() gives the new part a MIME-Version of its own (RFC 2045 §4)
        for inner in part.walk():
            del inner["MIME-Version"]
    recipients = [a.addr_spec for a in (*to, *cc, *bcc)]
    return ComposedEmail(msg, Envelope.from_addresses(senders[0].addr_spec, recipients))


def _set_importance(msg: EmailMessage, importance: str | None) -> None:
    if importance is None:
        return
    level = str(importance).strip().lower()
    if level not in IMPORTANCE:
        raise InvalidMessageError(f"importance {importance!r} is not one of high, normal or low.")
    msg["Importance"], msg["X-Priority"] = IMPORTANCE[level]


def _attach(msg: EmailMessage, attachments: list[Attachment], *, has_html: bool, has_text: bool) -> None:
    inline = [a for a in attachments if a.content_id]
    attached = [a for a in attachments if not a.content_id]
    if inline and has_html:
        # With both bodies the HTML one is the second part of multipart/alternative (set by _set_bodies).
        html_part = msg if not has_text else cast("EmailMessage", list(msg.iter_parts())[1])
        html_part.make_related()
        for attachment in inline:
            html_part.attach(_as_part(_part(attachment, "inline")))
    else:
        attached = list(attachments)
    if attached:
        msg.make_mixed()
        for attachment in attached:
            msg.attach(_as_part(_part(attachment, "inline" if attachment.content_id else "attachment")))


def _set_bodies(msg: EmailMessage, text: str | None, html: str | None) -> None:
    for name, body in (("text", text), ("html", html)):
        if body is not None and not isinstance(body, str):
            raise InvalidMessageError(f"{name} must be text, not {type(body).__name__}.")
    if text is None and html is None:
        text = ""
    if text is not None:
        msg.set_content(text, cte=_body_cte(text))
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html", cte=_body_cte(html))
        else:
            msg.add_alternative(html, subtype="html", cte=_body_cte(html))


def _as_part(part: StreamedPart) -> EmailMessage:
    # typeshed types attach() as taking EmailMessage; any MIMEPart works, and a StreamedPart is one.
    return cast("EmailMessage", part)


def _part(attachment: Attachment, disposition: str) -> StreamedPart:
    field, value = "attachments: filename", attachment.filename
    if attachment.content_id is not None and _decodes_unsafely(f"<{attachment.content_id}>"):
        field, value = "attachments: content_id", attachment.content_id
    with naming_field(field, value):
        return StreamedPart(
            attachment.source,
            filename=attachment.filename,
            content_type=attachment.content_type,
            disposition=disposition,
            content_id=attachment.content_id,
            policy=SMTP,
        )


def _now() -> str:
    from datetime import datetime, timezone

    return format_datetime(datetime.now(timezone.utc))


def make_message_id(domain: str, *identity: Any) -> str:
    """A Message-ID at ``domain``: derived from ``identity`` if given (stable), else random."""
    if identity:
        digest = hashlib.sha256("\x1f".join(map(str, identity)).encode("utf-8")).hexdigest()[:32]
    else:
        import secrets

        digest = secrets.token_hex(16)
    return f"<{digest}@{domain or 'localhost'}>"


def recipients_of(values: Iterable[Any]) -> list[str]:
    """All addresses of several to/cc/bcc values, without duplicates (for summaries and dry runs)."""
    seen: dict[str, None] = {}
    for value in values:
        for address in parse_addresses(value, "recipients"):
            seen.setdefault(address.addr_spec, None)
    return list(seen)
