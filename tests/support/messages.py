"""Messages for tests that hand one to the hook or the session: composed by the package (the operator's door) or
built with the standard library (the door of Python code calling the hook)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.message.compose import compose
from airflow_provider_smtpconn.message.request import EmailRequest

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.writer import WireMessage


def composed(
    sender: str = "Airflow <airflow@example.org>", identity: tuple[Any, ...] = (), **params: Any
) -> WireMessage:
    """``EmailRequest(from_email=sender, **params)`` composed for the wire; ``identity`` makes the Message-ID."""
    return compose(EmailRequest(from_email=sender, **params), identity=identity)


def plain_body(message: Any) -> str:
    """The text/plain body of a received message, with LF line endings."""
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")
