"""The SMTP session on its own against the loopback test server: settings for it, messages to hand it, one send."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import TYPE_CHECKING

from airflow_provider_smtpconn.message.email_message import from_email_message
from airflow_provider_smtpconn.smtp.session import SmtpSession
from airflow_provider_smtpconn.smtp.settings import SmtpSettings

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.writer import WireMessage


def settings(server, **overrides) -> SmtpSettings:
    """Settings for ``server`` on loopback: no TLS, no wait between retries, a 5 s timeout; ``overrides`` win."""
    values = {"host": server.host, "port": server.port, "tls_mode": "none", "retry_wait": 0, "timeout": 5}
    values.update(overrides)
    return SmtpSettings(**values)


def message(to="to@example.org", *, subject="Hello", body="Hi there.\n", **headers) -> WireMessage:
    """A small standard library message, written to its wire form."""
    return from_email_message(stdlib_message(to, subject=subject, body=body, **headers))


def stdlib_message(to="to@example.org", *, subject="Hello", body="Hi there.\n", **headers) -> EmailMessage:
    """A standard library message from a fixed sender; keyword ``headers`` are added (``Reply_To`` as ``Reply-To``)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def send(server, msg=None, **overrides):
    """Send ``msg`` (default: :func:`message`) over a new session to ``server``; returns the ``SendResult``."""
    if isinstance(msg, EmailMessage):
        msg = from_email_message(msg)
    with SmtpSession(settings(server, **overrides)) as session:
        return session.send(msg or message())
