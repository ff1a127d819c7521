"""The one send path: a frozen :class:`EmailRequest`, a hook and the task's identity in, a ``SendResult`` out.

The operator, the notifier, the email backend and the ``smtpconn send-test`` command all call
:func:`send_email`. It resolves the sender, normalises the attachments, composes the message once (addresses
parsed once, for the headers and the envelope), and hands it to the hook, or for a dry run to an ``.eml`` file.
A caller that sends many messages (a mail merge) uses its two halves: :func:`prepare_email` (checks
everything, connects nowhere) and :func:`deliver`. Heavy modules are imported only when a message is sent.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError, RecipientsRefusedError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_smtpconn.compose import ComposedEmail, EmailSpec
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
    from airflow_provider_smtpconn.transaction import Outgoing
    from airflow_provider_smtpconn.transport import SendResult

log = logging.getLogger(__name__)

ON_REFUSED = ("fail", "warn")
#: The attachment limit of a dry run whose connection cannot be read, in MiB.
DRY_RUN_ATTACHMENT_MB = 10


@dataclass(frozen=True)
class EmailRequest:
    """The message parameters after rendering; see ``SendEmailOperator`` for each one's accepted forms.

    :param to: Recipients: text separated by ``,`` or ``;``, or a list.
    :param from_email: The sender; ``None`` for the connection's.
    :param attachments: Any form ``attachments.normalize_attachments`` accepts.
    :param on_refused: ``fail`` or ``warn`` when some recipients (not all) are refused.
    :param max_attachment_mb: The largest single attachment in MiB; ``None`` for the connection's.
    :param inline_css: Move the rules of an HTML ``<style>`` block into ``style`` attributes (``True``).
    """

    to: Any = None
    cc: Any = None
    bcc: Any = None
    reply_to: Any = None
    from_email: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: Any = None
    importance: str | None = None
    headers: Mapping[str, Any] | None = None
    on_refused: str = "fail"
    max_attachment_mb: float | str | None = None
    inline_css: bool | str = True

    def with_defaults(self, *, subject: str, text: str) -> EmailRequest:
        """The request with ``subject`` and the plain-text body filled in where not given (no body at all)."""
        return replace(
            self,
            subject=self.subject if self.subject is not None else subject,
            text=text if self.text is None and self.html is None else self.text,
        )


@dataclass(frozen=True)
class PreparedEmail:
    """A request checked and composed, ready to send: nothing invalid reaches the server.

    :param spec: The checked parameters.
    :param on_refused: ``fail`` or ``warn``.
    :param outgoing: The message as ``wire.compose_wire`` flattened it for the wire, or ``None`` for the shapes
        it leaves to ``compose`` (inline images, non-ASCII addresses), which are then composed at once.
    """

    spec: EmailSpec
    on_refused: str
    outgoing: Outgoing | None = None

    @cached_property
    def composed(self) -> ComposedEmail:
        """The message as an ``EmailMessage`` with its envelope (composed on first use, e.g. by a dry run)."""
        return self.spec.compose()

    @property
    def message_id(self) -> str:
        """The Message-ID header, with its angle brackets."""
        if self.outgoing is not None:
            return self.outgoing.message_id
        return str(self.composed.message["Message-ID"]).strip()


def send_email(
    request: EmailRequest,
    hook: SmtpConnHook,
    *,
    identity: tuple[Any, ...] = (),
    dry_run: bool = False,
    dry_run_name: tuple[str, ...] = ("dag", "run", "task"),
    on_commit: Callable[[str], object] | None = None,
) -> SendResult:
    """Check every input, compose the message once, and send it (or write it to an ``.eml`` for a dry run).

    :param identity: What makes the Message-ID stable (the same values give the same Message-ID); empty for a
        random one.
    :param dry_run_name: Folder and file name parts of the dry run's ``.eml`` (DAG, run, task).
    :param on_commit: Passed to the transport: called with the Message-ID right before the final ``.``.
    :raises InvalidMessageError: (and subclasses) for bad input, before anything connects.
    :raises SmtpConfigError: for a bad connection field, before anything connects.
    :raises RecipientsRefusedError: all recipients refused, or some with ``on_refused='fail'``.
    :raises SmtpProviderError: (subclasses) for what the transport could not do; see ``transport.py``.
    """
    prepared = prepare_email(request, hook, identity=identity, dry_run=dry_run)
    if dry_run:
        return write_dry_run(prepared, dry_run_name)
    return deliver(prepared, hook, on_commit=on_commit)


def prepare_email(
    request: EmailRequest, hook: SmtpConnHook, *, identity: tuple[Any, ...] = (), dry_run: bool = False
) -> PreparedEmail:
    """Resolve the sender, normalise the attachments and compose; connects nowhere.

    For a dry run the connection may be missing (no sender or limit is read from it) and the message is composed
    as an ``EmailMessage`` only, since it is written to a file, not sent.

    :raises InvalidMessageError: naming the parameter and value at fault.
    """
    from airflow_provider_smtpconn.attachments import normalize_attachments
    from airflow_provider_smtpconn.compose import EmailSpec
    from airflow_provider_smtpconn.message.bodies import finish_bodies
    from airflow_provider_smtpconn.wire import compose_wire

    on_refused = str(request.on_refused).strip().lower()
    if on_refused not in ON_REFUSED:
        raise InvalidMessageError(f"on_refused {request.on_refused!r} is not 'fail' or 'warn'.")
    sender = request.from_email or _connection_sender(hook, required=not dry_run)
    if not sender:
        raise InvalidMessageError(
            f"No sender: give from_email, or set from_email (or a login that is an address) on connection "
            f"{hook.smtp_conn_id!r}."
        )
    limit = attachment_limit(request.max_attachment_mb, hook, connection_required=not dry_run)
    bodies = (_as_text("text", request.text), _as_text("html", request.html))
    text, html = finish_bodies(*bodies, inline_css=request.inline_css)  # CSS inlined, a text part for HTML
    spec = EmailSpec(
        sender=sender,
        to=request.to,
        cc=request.cc,
        bcc=request.bcc,
        reply_to=request.reply_to,
        subject=_as_text("subject", request.subject) or "",
        text=text,
        html=html,
        attachments=normalize_attachments(request.attachments, limit),
        importance=request.importance,
        headers=request.headers,
        identity=identity,
    )
    prepared = PreparedEmail(spec, on_refused, None if dry_run else compose_wire(spec))
    if prepared.outgoing is None:
        _ = prepared.composed  # every check before anything connects
    return prepared


def deliver(
    prepared: PreparedEmail, hook: SmtpConnHook, *, on_commit: Callable[[str], object] | None = None
) -> SendResult:
    """Send a prepared email through ``hook`` (its open session, if any) and apply ``on_refused``.

    :raises RecipientsRefusedError: if some recipients were refused and ``on_refused`` is ``fail`` (the message
        was delivered to the others and is not resent), or if all were.
    """
    if prepared.outgoing is not None:
        result = hook.send(prepared.outgoing, on_commit=on_commit)
    else:
        composed = prepared.composed
        result = hook.send(composed.message, envelope=composed.envelope, on_commit=on_commit)
    if result.refused:
        refused = "; ".join(f"{a} ({c} {t})" for a, (c, t) in result.refused.items())
        if prepared.on_refused == "fail":
            raise RecipientsRefusedError(
                f"Delivered to {', '.join(result.accepted)} but the server refused {refused}. "
                f"Message-ID {result.message_id}; not resent (on_refused='fail').",
                result.refused,
                result.accepted,
            )
        for address, (code, text) in result.refused.items():
            log.warning("Recipient %s was refused: %s %s", address, code, text)
    log.info("Sent %s to %d recipient(s) (%d bytes).", result.message_id, len(result.accepted), result.size_bytes)
    return result


def write_dry_run(prepared: PreparedEmail, name: tuple[str, ...]) -> SendResult:
    """Write the message to ``$TMPDIR/smtpconn-dry-run/<dag>/<run>/<task>.eml`` instead of sending it."""
    import tempfile
    from pathlib import Path

    from airflow_provider_smtpconn.render import FileSink, write_message
    from airflow_provider_smtpconn.transport import SendResult

    message = prepared.composed.message
    *folders, file_name = (_safe(part) for part in name)
    folder = Path(tempfile.gettempdir(), "smtpconn-dry-run", *folders)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_name}.eml"
    with path.open("wb") as file:
        write_message(message, FileSink(file), message.policy)
    size = path.stat().st_size
    recipients = prepared.composed.envelope.recipients
    subject = str(message["Subject"])
    log.info(
        "Dry run: wrote %s (%d bytes) for %s, subject %r; nothing was sent.", path, size, ", ".join(recipients), subject
    )
    return SendResult(prepared.message_id, [], {}, size, eml_path=str(path), dry_run=True)


def attachment_limit(
    max_attachment_mb: float | str | None, hook: SmtpConnHook, *, connection_required: bool = True
) -> int:
    """The largest single attachment in bytes: ``max_attachment_mb`` (MiB) if given, else the connection's.

    :raises InvalidMessageError: if ``max_attachment_mb`` is not a number above 0.
    :raises SmtpConfigError: if the connection's limit is invalid (a dry run without a connection gets 10 MiB).
    """
    if max_attachment_mb not in (None, ""):
        try:
            mb = float(max_attachment_mb)  # type: ignore[arg-type,unused-ignore]  # checked by float()
            if not (math.isfinite(mb) and mb > 0):
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidMessageError(f"max_attachment_mb {max_attachment_mb!r} is not a number above 0.") from None
        return int(mb * 1024 * 1024)
    try:
        return hook.max_attachment_bytes
    except Exception:
        if not connection_required:  # a dry run may have no connection at all
            return DRY_RUN_ATTACHMENT_MB * 1024 * 1024
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
        raise InvalidMessageError(f"{name} is bytes; give text.")
    return str(value)


def _safe(part: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(part))[:120] or "_"
