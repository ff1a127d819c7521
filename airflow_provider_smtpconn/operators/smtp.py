"""``SendEmailOperator``: send one email through an ``smtpconn`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.sending import EmailParameters

try:
    from airflow.sdk import BaseOperator
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.models import BaseOperator  # type: ignore[no-redef]

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class SendEmailOperator(EmailParameters, BaseOperator):
    """Send an email, with attachments built from upstream XComs, and return what the server said.

    :param to: Recipients: text separated by ``,`` or ``;``, or a list (templated).
    :param cc: Carbon-copy recipients, as ``to`` (templated).
    :param bcc: Blind-copy recipients, as ``to``; they get the message but appear in no header (templated).
    :param reply_to: Where replies go, as ``to`` (templated).
    :param from_email: The sender; default: the connection's ``from_email``, else its login (templated).
    :param subject: The subject line (templated).
    :param text: The plain-text body, or a ``.txt``/``.j2`` template file (templated).
    :param html: The HTML body, or a ``.html``/``.j2`` template file; with ``text``, both go as alternatives
        (templated).
    :param attachments: Paths, ``ObjectStoragePath``, dict specs, a ``{filename: content}`` mapping, or a list of
        these, often ``upstream.output``; never loaded as template files (templated).
    :param importance: ``high``, ``normal`` or ``low`` (templated).
    :param headers: Extra headers as a dict (templated).
    :param on_refused: ``fail`` (default) or ``warn`` when the server refuses some recipients but not all
        (templated).
    :param max_attachment_mb: The largest single attachment, overriding the connection's (templated).
    :param smtp_conn_id: The ``smtpconn`` connection (templated).
    :param dry_run: Build the message and write it to an ``.eml`` file instead of sending it.
    :return: ``message_id``, ``accepted``, ``refused``, ``size_bytes`` (and ``eml_path`` for a dry run).
    """

    template_fields: Sequence[str] = (*EmailParameters.EMAIL_TEMPLATE_FIELDS, "smtp_conn_id")
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        to: str | list[str] | None = None,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        reply_to: str | list[str] | None = None,
        from_email: str | None = None,
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        attachments: Any = None,
        importance: str | None = None,
        headers: dict[str, Any] | None = None,
        on_refused: str = "fail",
        max_attachment_mb: float | None = None,
        smtp_conn_id: str = "smtpconn_default",
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_email_parameters(
            smtp_conn_id=smtp_conn_id,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            from_email=from_email,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            importance=importance,
            headers=headers,
            on_refused=on_refused,
            max_attachment_mb=max_attachment_mb,
            dry_run=dry_run,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Send the email; the Message-ID is the same for every try of this task instance."""
        ti = context["ti"]
        identity = (ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        return self.send_email(context, identity=identity)
