"""The SMTP envelope of one message: the sender for MAIL FROM and the recipients for RCPT TO (RFC 5321 §3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING

from airflow_provider_smtpconn.exceptions import InvalidMessageError

if TYPE_CHECKING:
    from email.message import Message

    from airflow_provider_smtpconn.message.dsn import DsnRequest


@dataclass(frozen=True)
class Envelope:
    """Sender and recipients of one message (Bcc included), each address once, in header order.

    ``compose`` builds it from the addresses it parsed for the headers; :meth:`of` reads it back from a message
    made elsewhere. ``dsn``: the delivery status notifications asked for (RFC 3461), if any.
    """

    sender: str
    recipients: list[str]
    dsn: DsnRequest | None = None

    @classmethod
    def of(cls, message: Message) -> Envelope:
        """Read the envelope from ``Sender``/``From`` and ``To``/``Cc``/``Bcc``.

        :raises InvalidMessageError: if there is no sender or no recipient.
        """
        senders = _addr_specs(message, "Sender") or _addr_specs(message, "From")
        recipients = [a for header in ("To", "Cc", "Bcc") for a in _addr_specs(message, header)]
        return cls.from_addresses(senders[0] if senders else "", recipients)

    @classmethod
    def from_addresses(cls, sender: str, recipients: list[str], dsn: DsnRequest | None = None) -> Envelope:
        """The envelope of ``sender`` and ``recipients`` (addr-specs), without duplicates (case-insensitive).

        :raises InvalidMessageError: if there is no sender or no recipient.
        """
        if not sender:
            raise InvalidMessageError("The message has no From address.")
        unique: list[str] = []
        seen: set[str] = set()
        for address in recipients:
            if address and address.lower() not in seen:
                seen.add(address.lower())
                unique.append(address)
        if not unique:
            raise InvalidMessageError("The message has no recipient in To, Cc or Bcc.")
        return cls(sender, unique, dsn)

    @property
    def needs_smtputf8(self) -> bool:
        """Whether an address itself (not only a display name) is non-ASCII (RFC 6531)."""
        return not all(a.isascii() for a in (self.sender, *self.recipients))


def _addr_specs(message: Message, header: str) -> list[str]:
    """The addr-specs of every ``header`` of ``message``: from the parsed address objects of an ``EmailMessage``'s
    policy where it has them, else parsed from the text (a legacy ``Message``).
    """
    found: list[str] = []
    for value in message.get_all(header, []):
        addresses = getattr(value, "addresses", None)
        if addresses is not None:
            found.extend(a.addr_spec for a in addresses if a.addr_spec)
        else:
            found.extend(a for _, a in getaddresses([str(value)]) if a)
    return found
