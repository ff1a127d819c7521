"""An ``[email] email_backend`` for Airflow, so ``email_on_failure`` and ``email_on_retry`` use an ``smtpconn``.

Configure::

    [email]
    email_backend = airflow_provider_smtpconn.email_backend.send_email
    email_conn_id = smtpconn_default
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# What Airflow passes as from_email when [email] from_email is not set; not a deliverable address.
_AIRFLOW_PLACEHOLDER_SENDER = "airflow@airflow"


def send_email(
    to: str | list[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    dryrun: bool = False,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    custom_headers: dict[str, Any] | None = None,
    from_email: str | None = None,
    **kwargs: Any,
) -> None:
    """Send an Airflow alert email through an ``smtpconn`` connection (the signature Airflow calls).

    The sender is ``from_email`` if configured, else the connection's ``from_email`` (or its login).
    """
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
    from airflow_provider_smtpconn.sending import EmailRequest, prepare_email, send_email

    hook = SmtpConnHook(smtp_conn_id=conn_id or SmtpConnHook.default_conn_name)
    sender = from_email if from_email and from_email != _AIRFLOW_PLACEHOLDER_SENDER else None
    request = EmailRequest(
        to=to,
        cc=cc,
        bcc=bcc,
        from_email=sender or hook.from_email or from_email,
        subject=subject or "",
        html=html_content or "",
        attachments=files,
        headers=custom_headers,
        on_refused="warn",  # an alert that reached some recipients is not a failed task
    )
    if dryrun:
        prepare_email(request, hook)  # every check a send makes; nothing is sent
        log.info("Dry run: would send %r to %s.", subject, to)
        return
    result = send_email(request, hook)
    log.info("Sent %s to %s.", result.message_id, ", ".join(result.accepted))
