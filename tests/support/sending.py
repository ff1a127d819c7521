"""One request down the package's send path, through the hook of the default connection: what a shell does."""

from __future__ import annotations

from typing import Any

from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.sending import EmailRequest, send_email


def send(**params: Any) -> Any:
    """Send ``EmailRequest(to="a@example.org", text="x", **params)`` with ``SmtpConnHook()``; returns its result."""
    return send_email(EmailRequest(**{"to": "a@example.org", "text": "x", **params}), SmtpConnHook())
