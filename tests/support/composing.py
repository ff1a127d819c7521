"""Compose a request to its wire bytes and read them back with the standard library's parser, as a receiver would:
the helper of the Airflow-free tests of ``message/``."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, NamedTuple

from airflow_provider_smtpconn.message import compose as composer
from airflow_provider_smtpconn.message.request import EmailRequest

if TYPE_CHECKING:
    from email.message import EmailMessage

    from airflow_provider_smtpconn.message.envelope import Envelope

DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)

BASE_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]


class Composed(NamedTuple):
    message: EmailMessage  # the wire bytes as the standard library's parser reads them
    envelope: Envelope


def compose(
    sender: str = "Sender <sender@example.org>", identity: tuple[object, ...] = (), **fields: object
) -> Composed:
    """``EmailRequest(from_email=sender, **fields)`` composed on :data:`DATE`: the wire bytes parsed back, and the
    envelope (``to`` defaults to one recipient)."""
    fields.setdefault("to", "to@example.org")
    wire = composer.compose(EmailRequest(from_email=sender, **fields), identity=identity, date=DATE)  # type: ignore[arg-type]
    data = wire.as_bytes()
    assert len(data) == wire.size
    return Composed(BytesParser(policy=policy.default).parsebytes(data), wire.envelope)  # type: ignore[arg-type]


def read_back(message: EmailMessage) -> EmailMessage:
    """The message as a receiver reads it: :func:`compose` already parsed the wire bytes."""
    return message
