"""``SendEmailNotifier``: the operator's twin for ``on_*_callback``, with useful defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.notifications.context import (
    REQUIRED_ACTIONS_URL,
    TaskCallback,
    default_message,
    required_actions_url,
)
from airflow_provider_smtpconn.templating import EMAIL_TEMPLATE_FIELDS, EmailTemplating, not_template_files
from airflow_provider_smtpconn.version_compat import DEADLINE_ALERTS, BaseNotifier, require_airflow

if TYPE_CHECKING:
    from collections.abc import Sequence

    import jinja2
    from airflow.sdk import Context

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook


class SendEmailNotifier(EmailTemplating, BaseNotifier):
    """Send an email from a DAG or task callback (``on_failure_callback``, ``on_success_callback``, ...).

    Takes the same message parameters as :class:`~airflow_provider_smtpconn.operators.smtp.SendEmailOperator`,
    all templated with the callback's context. Without ``subject``, ``text`` and ``html`` it sends a summary, a
    small table in HTML and text (see ``notifications.context.TaskCallback``): DAG, task, run, state, try, when,
    duration, the exception's last line and the log link; the subject names the DAG and the task.

    Also awaitable in the triggerer (Airflow 3.1+) as a Deadline Alert's ``AsyncCallback(SendEmailNotifier,
    kwargs={...})``: the default then says which DAG and run missed which deadline, and when. As a
    human-in-the-loop task's ``notifiers=[...]`` its templates get ``{{ required_actions_url }}``, the link to
    the task instance's "Required Actions" page, and the default asks the task's question with that link.

    Templates can use the ``email_table`` filter and ``inline_image(...)`` as the operator's can; ``inline_css``
    is the operator's too.

    :param context: Given by the triggerer for a Deadline Alert; leave it out elsewhere.
    :raises AirflowVersionError: Awaited (or given ``context``) on an Airflow older than 3.1.
    """

    template_fields: Sequence[str] = (*EMAIL_TEMPLATE_FIELDS, "smtp_conn_id")

    def __init__(
        self,
        *,
        to: str | list[str] | None = None,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        reply_to: str | list[str] | None = None,
        from_email: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        attachments: Any = None,
        importance: str | None = None,
        headers: dict[str, Any] | None = None,
        on_refused: str = "warn",
        max_attachment_mb: float | None = None,
        inline_css: bool = True,
        list_unsubscribe: str | list[str] | None = None,
        dsn: dict[str, Any] | None = None,
        smtp_conn_id: str = "smtpconn_default",
        dry_run: bool = False,
        context: Context | None = None,
    ) -> None:
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
        self.dry_run = dry_run
        if context is None:
            super().__init__()
        else:  # the triggerer's Deadline Alert callback (BaseNotifier took a context from Airflow 3.1)
            require_airflow(DEADLINE_ALERTS)
            super().__init__(context=context)  # type: ignore[call-arg,unused-ignore]  # 3.1+ takes a context

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render with the DAG's Jinja environment, or a plain one where the callback's DAG has none.

        DAG-level callbacks can receive a serialized DAG, which has no ``get_template_env``. A human-in-the-loop
        task's context gains ``required_actions_url`` first.
        """
        if REQUIRED_ACTIONS_URL not in context:
            url = required_actions_url(context)
            if url:
                context[REQUIRED_ACTIONS_URL] = url  # type: ignore[literal-required]
        dag = context.get("dag")
        if jinja_env is None and dag is not None and not hasattr(dag, "get_template_env"):
            jinja_env = self.get_template_env(dag=None)
        super().render_template_fields(context, jinja_env)

    def notify(self, context: Context) -> None:
        """Send the notification; without subject and bodies, the defaults describe the run it is about."""
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

        self._send(context, SmtpConnHook(smtp_conn_id=self.smtp_conn_id))

    async def async_notify(self, context: Context) -> None:
        """Send the notification from an event loop (the triggerer) without blocking it.

        The connection is fetched with Airflow's async getter on the loop; composing and the SMTP session, the
        same ones :meth:`notify` uses, run in a worker thread.

        :raises AirflowVersionError: On an Airflow older than 3.1.
        """
        import asyncio

        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

        require_airflow(DEADLINE_ALERTS)
        hook = SmtpConnHook(smtp_conn_id=self.smtp_conn_id)
        try:
            await hook.aconnection()
        except Exception:
            if not self.dry_run:  # a dry run may have no connection at all
                raise
        await asyncio.to_thread(self._send, context, hook)

    def _send(self, context: Context, hook: SmtpConnHook) -> None:
        from dataclasses import replace

        from airflow_provider_smtpconn.sending import send_email

        default = default_message(context, notifier=self) or TaskCallback.from_context(context).default_message()
        request = self.email_request()
        if request.text is None and request.html is None and default.html is not None:
            request = replace(request, text=default.text, html=default.html)
        request = request.with_defaults(subject=default.subject, text=default.text)
        # Two notifiers on the same event (a task's and its DAG's) send two messages: each gets a Message-ID of its
        # own, or a receiver that already holds the first drops the second.
        addressed = tuple(repr(v) for v in (request.to, request.cc, request.bcc, request.subject))
        send_email(
            request,
            hook,
            identity=(*default.identity, *addressed),
            dry_run=self.dry_run,
            dry_run_name=default.dry_run_name,
        )
