"""``SendEmailOperator``: send one email through an ``smtpconn`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.templating import EMAIL_TEMPLATE_FIELDS, EmailTemplating, not_template_files
from airflow_provider_smtpconn.version_compat import BaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class SendEmailOperator(EmailTemplating, BaseOperator):
    """Send an email, with attachments built from upstream XComs, and return what the server said.

    :param to: Recipients: text separated by ``,`` or ``;``, or a list (templated).
    :param cc: Carbon-copy recipients, as ``to`` (templated).
    :param bcc: Blind-copy recipients, as ``to``; they get the message but appear in no header (templated).
    :param reply_to: Where replies go, as ``to`` (templated).
    :param from_email: The sender; default: the connection's ``from_email``, else its login (templated).
    :param subject: The subject line (templated).
    :param text: The plain-text body, or a ``.txt``/``.j2`` template file (templated).
    :param html: The HTML body, or a ``.html``/``.j2`` template file; with ``text``, both go as alternatives;
        without, a plain-text alternative is derived from it. Templates can use the filter
        ``{{ rows | email_table(max_rows=20, csv='report.csv') }}`` and ``{{ inline_image(chart, alt='...') }}``
        (templated).
    :param attachments: Paths, ``ObjectStoragePath``, dict specs, a ``{filename: content}`` mapping, or a list of
        these, often ``upstream.output``; never loaded as template files (templated).
    :param importance: ``high``, ``normal`` or ``low`` (templated).
    :param headers: Extra headers as a dict (templated).
    :param on_refused: ``fail`` (default) or ``warn`` when the server refuses some recipients but not all
        (templated).
    :param max_attachment_mb: The largest single attachment, overriding the connection's (templated).
    :param inline_css: Move the rules of a ``<style>`` block in ``html`` into ``style`` attributes, which Gmail
        and Outlook keep (default ``True``; only when there is a ``<style>`` block) (templated).
    :param list_unsubscribe: Where recipients unsubscribe: an ``https://`` URL (one-click, RFC 8058: the
        receiver POSTs ``List-Unsubscribe=One-Click`` to it) and/or ``mailto:`` URIs, one text or a list; sent as
        ``List-Unsubscribe`` (RFC 2369) and ``List-Unsubscribe-Post`` (templated).
    :param dsn: Delivery status notifications (RFC 3461), where the server offers DSN: ``notify`` (``success``,
        ``failure``, ``delay``, or ``never``; one or a list), ``ret`` (``full`` or ``headers``) and ``envid``, e.g.
        ``{"notify": ["failure", "delay"], "ret": "headers"}``; a server without DSN gets the message without
        them, and the log one warning (templated).
    :param smtp_conn_id: The ``smtpconn`` connection (templated).
    :param dry_run: Build the message and write it to an ``.eml`` file instead of sending it.
    :return: ``message_id``, ``accepted``, ``refused``, ``size_bytes`` (and ``eml_path`` for a dry run).
    """

    template_fields: Sequence[str] = (*EMAIL_TEMPLATE_FIELDS, "smtp_conn_id")
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
        inline_css: bool = True,
        list_unsubscribe: str | list[str] | None = None,
        dsn: dict[str, Any] | None = None,
        smtp_conn_id: str = "smtpconn_default",
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.from_email = from_email
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = not_template_files(attachments)
        self.importance = importance
        self.headers = headers
        self.on_refused = on_refused
        self.max_attachment_mb = max_attachment_mb
        self.inline_css = inline_css
        self.list_unsubscribe = list_unsubscribe
        self.dsn = dsn
        self.smtp_conn_id = smtp_conn_id
        # BaseOperator.dry_run() is a method (it renders templates and logs them): keep the flag apart.
        self.write_eml_only = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        """Send the email; the Message-ID is the same for every try of this task instance (until it is cleared)."""
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
        from airflow_provider_smtpconn.sending import send_email

        ti = context["ti"]
        result = send_email(
            self.email_request(),
            SmtpConnHook(smtp_conn_id=self.smtp_conn_id),
            identity=task_identity(ti),
            dry_run=self.write_eml_only,
            dry_run_name=(ti.dag_id, ti.run_id, ti.task_id),
        )
        return result.to_dict()


def task_identity(ti: Any) -> tuple[Any, ...]:
    """What makes a task instance's Message-ID stable across its automatic retries, and new after a clear.

    Airflow raises ``max_tries`` by the task's ``retries`` when a person clears a task instance, so
    ``max_tries - retries + 1`` is the first try of the current clear: 1 until the first clear. Receivers such
    as Gmail drop a message whose Message-ID they already hold, so a deliberate resend needs a new one.
    """
    identity: tuple[Any, ...] = (ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
    max_tries, retries = getattr(ti, "max_tries", None), getattr(getattr(ti, "task", None), "retries", None)
    if isinstance(max_tries, int) and isinstance(retries, int) and max_tries - retries + 1 > 1:
        identity += (f"clear-{max_tries - retries + 1}",)
    return identity
