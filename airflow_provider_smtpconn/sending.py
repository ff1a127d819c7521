"""What ``SendEmailOperator`` and ``SendEmailNotifier`` share: their message parameters and one send.

Airflow renders the parameters; :meth:`EmailParameters.send_email` normalises the attachments, composes the
message once with :mod:`~airflow_provider_smtpconn.compose`, and hands it to the hook (or, for a dry run, to an
``.eml`` file). Heavy modules (the transport, csv, json, mimetypes) are imported only when a task runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import MessageError

if TYPE_CHECKING:
    from email.message import EmailMessage

    import jinja2
    from airflow.sdk import Context

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

log = logging.getLogger(__name__)

ON_REFUSED = ("fail", "warn")


class NotATemplateFile(str):
    """A string Airflow renders as Jinja but never loads as a template file.

    Airflow applies ``template_ext`` to every templated field, so an attachment named ``report.html`` would be
    read as a Jinja template (at parse time, even replaced by its content). Airflow tests that with
    ``value.endswith(tuple(template_ext))``; this string answers no to that one question.
    """

    __slots__ = ()

    def endswith(self, suffix: Any, *args: Any) -> bool:
        if isinstance(suffix, tuple) and not args:
            return False
        return str.endswith(self, suffix, *args)


def not_template_files(value: Any) -> Any:
    """Wrap every string inside ``value`` (lists, tuples, dict values) as :class:`NotATemplateFile`."""
    if isinstance(value, str) and not isinstance(value, NotATemplateFile):
        return NotATemplateFile(value)
    if isinstance(value, list):
        return [not_template_files(v) for v in value]
    if value.__class__ is tuple:
        return tuple(not_template_files(v) for v in value)
    if isinstance(value, dict):
        return {k: not_template_files(v) for k, v in value.items()}
    return value


class EmailParameters:
    """The message parameters of the operator and the notifier, and sending one email from them.

    Subclasses call :meth:`_set_email_parameters` from ``__init__`` and :meth:`send_email` with the context.
    """

    EMAIL_TEMPLATE_FIELDS: tuple[str, ...] = (
        "to",
        "cc",
        "bcc",
        "reply_to",
        "from_email",
        "subject",
        "text",
        "html",
        "attachments",
        "importance",
        "headers",
        "on_refused",
        "max_attachment_mb",
    )
    template_ext = (".html", ".txt", ".j2")
    template_fields_renderers = {"html": "html", "text": "txt", "headers": "json", "attachments": "py"}

    smtp_conn_id: str
    dry_run: bool

    def _set_email_parameters(
        self,
        *,
        smtp_conn_id: str,
        to: Any,
        cc: Any,
        bcc: Any,
        reply_to: Any,
        from_email: str | None,
        subject: str | None,
        text: str | None,
        html: str | None,
        attachments: Any,
        importance: str | None,
        headers: dict[str, Any] | None,
        on_refused: str,
        max_attachment_mb: float | str | None,
        dry_run: bool,
    ) -> None:
        self.smtp_conn_id = smtp_conn_id
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
        self.dry_run = dry_run

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render as Airflow does; a body template file that does not exist is bad input, not worth a retry."""
        import jinja2

        try:
            super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        except jinja2.TemplateNotFound as exc:
            field = next((f for f in self.template_fields if getattr(self, f, None) == exc.name), "a field")  # type: ignore[attr-defined]
            raise MessageError(
                f"{field} names the template file {exc.name!r}, which is not in the DAG folder or its "
                "template_searchpath."
            ) from None

    # -- the one send ------------------------------------------------------------------------------

    def send_email(
        self, context: Context, *, identity: tuple[Any, ...], hook: SmtpConnHook | None = None
    ) -> dict[str, Any]:
        """Check every input, compose the message, send it (or write it for a dry run); return the result.

        :param identity: What makes the Message-ID stable (the same values give the same Message-ID).
        :param hook: A hook whose connection was already fetched (the triggerer's way); default: a new one.
        """
        from airflow_provider_smtpconn.attachments import normalize_attachments
        from airflow_provider_smtpconn.compose import EmailSpec
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

        on_refused = str(self.on_refused).strip().lower()
        if on_refused not in ON_REFUSED:
            raise MessageError(f"on_refused {self.on_refused!r} is not 'fail' or 'warn'.")
        hook = hook or SmtpConnHook(smtp_conn_id=self.smtp_conn_id)
        sender = self.from_email or _connection_sender(hook, required=not self.dry_run)
        if not sender:
            raise MessageError(
                f"No sender: give from_email, or set from_email (or a login that is an address) on connection "
                f"{self.smtp_conn_id!r}."
            )
        max_bytes = self._max_attachment_bytes(hook)
        spec = EmailSpec(
            sender=sender,
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            subject=_as_text("subject", self.subject) or "",
            text=_as_text("text", self.text),
            html=_as_text("html", self.html),
            attachments=normalize_attachments(self.attachments, max_bytes),
            importance=self.importance,
            headers=self.headers,
            identity=identity,
        )
        message = spec.build()
        if self.dry_run:
            return _write_dry_run(message, context)
        result = hook.send(message)
        if result.refused:
            if on_refused == "fail":
                from airflow_provider_smtpconn.exceptions import RecipientsRefusedError

                raise RecipientsRefusedError(
                    f"Delivered to {', '.join(result.accepted)} but the server refused "
                    + "; ".join(f"{a} ({c} {t})" for a, (c, t) in result.refused.items())
                    + f". Message-ID {result.message_id}; not resent (on_refused='fail').",
                    result.refused,
                    result.accepted,
                )
            for address, (code, text) in result.refused.items():
                log.warning("Recipient %s was refused: %s %s", address, code, text)
        log.info("Sent %s to %d recipient(s) (%d bytes).", result.message_id, len(result.accepted), result.size_bytes)
        return result.to_dict()

    def _max_attachment_bytes(self, hook: SmtpConnHook) -> int | None:
        if self.max_attachment_mb not in (None, ""):
            try:
                mb = float(self.max_attachment_mb)  # type: ignore[arg-type]
                if mb <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                raise MessageError(f"max_attachment_mb {self.max_attachment_mb!r} is not a number above 0.") from None
            return int(mb * 1024 * 1024)
        try:
            return hook.max_attachment_bytes
        except Exception:
            if self.dry_run:  # a dry run may have no connection at all
                return 10 * 1024 * 1024
            raise


def _connection_sender(hook: SmtpConnHook, *, required: bool) -> str | None:
    try:
        return hook.from_email
    except Exception:
        if required:
            raise
        return None


def _as_text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        raise MessageError(f"{name} is bytes; give text.")
    return str(value)


def _write_dry_run(message: EmailMessage, context: Context) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from airflow_provider_smtpconn.compose import recipients_of
    from airflow_provider_smtpconn.mime import FileSink, write_message

    ti = context.get("ti")
    parts = [getattr(ti, "dag_id", "dag"), getattr(ti, "run_id", "run"), getattr(ti, "task_id", "task")]
    folder = Path(tempfile.gettempdir(), "smtpconn-dry-run", *(_safe(p) for p in parts[:2]))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(parts[2])}.eml"
    with path.open("wb") as file:
        write_message(message, FileSink(file), message.policy)
    recipients = recipients_of(message.get_all(h, []) for h in ("To", "Cc", "Bcc"))
    size = path.stat().st_size
    log.info(
        "Dry run: wrote %s (%d bytes) for %s, subject %r; nothing was sent.",
        path,
        size,
        ", ".join(recipients),
        str(message["Subject"]),
    )
    return {
        "message_id": str(message["Message-ID"]),
        "accepted": [],
        "refused": {},
        "size_bytes": size,
        "eml_path": str(path),
        "dry_run": True,
    }


def _safe(part: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(part))[:120] or "_"
