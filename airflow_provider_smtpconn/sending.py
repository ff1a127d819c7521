"""The one send path: an :class:`EmailRequest`, a hook and the task's identity in, a ``SendResult`` out.

The operator, the notifier, the email backend and the ``smtpconn send-test`` command all call
:func:`send_email`; a mail merge calls its first half per row. The path is a chain of single-purpose hops::

    EmailRequest --prepare_email--> WireMessage --deliver (hook.send)--> SendResult
                                                --write_dry_run--------> SendResult (eml_path)

:func:`prepare_email` resolves the sender and the attachment limit from the connection and composes the message
once (``message.compose``): every check happens there, before anything connects. Heavy modules are imported
only when a message is sent.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError, RecipientsRefusedError
from airflow_provider_smtpconn.message.request import EmailRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.transaction import SendResult

__all__ = ["EmailRequest", "attachment_limit", "deliver", "prepare_email", "send_email", "write_dry_run"]

log = logging.getLogger(__name__)

ON_REFUSED = ("fail", "warn")
#: The attachment limit of a dry run whose connection cannot be read, in MiB.
DRY_RUN_ATTACHMENT_MB = 10


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
    :param on_commit: Passed to the session: called with the Message-ID right before the final ``.``.
    :raises InvalidMessageError: (and subclasses) for bad input, before anything connects.
    :raises SmtpConfigError: for a bad connection field, before anything connects.
    :raises RecipientsRefusedError: all recipients refused, or some with ``on_refused='fail'``.
    :raises SmtpProviderError: (subclasses) for what the session could not do; see ``smtp/session.py``.
    """
    message = prepare_email(request, hook, identity=identity, dry_run=dry_run)
    if dry_run:
        return write_dry_run(message, dry_run_name)
    return deliver(message, hook, on_refused=request.on_refused, on_commit=on_commit)


def prepare_email(
    request: EmailRequest,
    hook: SmtpConnHook,
    *,
    identity: tuple[Any, ...] = (),
    dry_run: bool = False,
    sign: bool = True,
    envid: str | None = None,
) -> WireMessage:
    """Resolve the sender, the attachment limit and the Message-ID domain, compose, and sign with DKIM if the
    connection says so; connects nowhere.

    For a dry run the connection may be missing (then no sender is read from it, the limit is 10 MiB and nothing
    is signed).

    :param sign: Sign with the connection's DKIM key (``False`` where the message is only checked).
    :param envid: The DSN ENVID when the request's ``dsn`` gives none (a merge row's key).
    :raises InvalidMessageError: naming the parameter and value at fault.
    :raises SmtpConfigError: for a DKIM field that cannot be used.
    """
    from airflow_provider_smtpconn.message.bodies import finish_bodies
    from airflow_provider_smtpconn.message.compose import compose

    check_on_refused(request.on_refused)
    sender = request.from_email or _connection_sender(hook, required=not dry_run)
    if not sender:
        raise InvalidMessageError(
            f"No sender: give from_email, or set from_email (or a login that is an address) on connection "
            f"{hook.smtp_conn_id!r}."
        )
    limit = attachment_limit(request.max_attachment_mb, hook, connection_required=not dry_run)
    text, html = finish_bodies(
        _as_text("text", request.text), _as_text("html", request.html), inline_css=request.inline_css
    )  # CSS inlined, a text part derived for HTML
    message = compose(
        replace(request, from_email=sender, subject=_as_text("subject", request.subject) or "", text=text, html=html),
        identity=identity,
        max_attachment_bytes=limit,
        message_id_domain=_from_connection(hook, "message_id_domain", required=not dry_run),
        envid=envid,
    )  # fmt: skip
    signer = _from_connection(hook, "dkim_signer", required=not dry_run) if sign else None
    if signer is None:
        return message
    _warn_unaligned(signer.domain, message.envelope.sender.rpartition("@")[2].lower())
    return signer.sign(message)


def deliver(
    message: WireMessage,
    hook: SmtpConnHook,
    *,
    on_refused: str = "fail",
    on_commit: Callable[[str], object] | None = None,
) -> SendResult:
    """Send ``message`` through ``hook`` (its open session, if any) and apply ``on_refused``.

    :raises RecipientsRefusedError: if some recipients were refused and ``on_refused`` is ``fail`` (the message
        was delivered to the others and is not resent), or if all were.
    """
    from airflow_provider_smtpconn.smtp.replies import describe

    result = hook.send(message, on_commit=on_commit)
    if result.refused:
        if check_on_refused(on_refused) == "fail":
            raise RecipientsRefusedError(
                f"Delivered to {', '.join(result.accepted)} but the server refused {describe(result.refused)}. "
                f"Message-ID {result.message_id}; not resent (on_refused='fail').",
                result.refused,
                result.accepted,
            )
        for address, (code, text) in result.refused.items():
            log.warning("Recipient %s was refused: %s %s", address, code, text)
    log.info("Sent %s to %d recipient(s) (%d bytes).", result.message_id, len(result.accepted), result.size_bytes)
    return result


def write_dry_run(message: WireMessage, name: tuple[str, ...]) -> SendResult:
    """Write the bytes a send would send to ``$TMPDIR/smtpconn-dry-run/<dag>/<run>/<task>.eml``; send nothing.

    Each name part is made safe for a file name (``paths.safe_path``): no id can steer the file out of that folder.
    """
    import tempfile

    from airflow_provider_smtpconn.paths import safe_path
    from airflow_provider_smtpconn.smtp.transaction import SendResult

    *folders, file_name = name
    path = safe_path(tempfile.gettempdir(), "smtpconn-dry-run", *folders, file_name, suffix=".eml")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        message.write_to(file)
    log.info(
        "Dry run: wrote %s (%d bytes) for %s; nothing was sent.", path, message.size,
        ", ".join(message.envelope.recipients),
    )  # fmt: skip
    return SendResult(message.message_id, [], {}, message.size, eml_path=str(path), dry_run=True)


def check_on_refused(value: Any) -> str:
    """``on_refused`` normalised: ``fail`` or ``warn``.

    :raises InvalidMessageError: for any other value.
    """
    on_refused = str(value).strip().lower()
    if on_refused not in ON_REFUSED:
        raise InvalidMessageError(f"on_refused {value!r} is not 'fail' or 'warn'.")
    return on_refused


def attachment_limit(
    max_attachment_mb: float | str | None, hook: SmtpConnHook, *, connection_required: bool = True
) -> int:
    """The largest single attachment in bytes: ``max_attachment_mb`` (MiB) if given, else the connection's.

    :raises InvalidMessageError: if ``max_attachment_mb`` is not a number above 0.
    :raises SmtpConfigError: if the connection's limit is invalid (a dry run without a connection gets 10 MiB).
    """
    if max_attachment_mb not in (None, ""):
        from airflow_provider_smtpconn.connection.parsers import check_number

        mb = check_number("max_attachment_mb", max_attachment_mb, minimum=1 / 1024, parameter=True)
        return int(mb * 1024 * 1024)
    try:
        return hook.max_attachment_bytes
    except Exception:
        if not connection_required:  # a dry run may have no connection at all
            return DRY_RUN_ATTACHMENT_MB * 1024 * 1024
        raise


def _connection_sender(hook: SmtpConnHook, *, required: bool) -> str | None:
    return _from_connection(hook, "from_email", required=required)


def _from_connection(hook: SmtpConnHook, name: str, *, required: bool) -> Any:
    """``hook.<name>``; ``None`` where the connection cannot be read and need not be (a dry run)."""
    try:
        return getattr(hook, name)
    except Exception:
        if required:
            raise
        return None


@functools.lru_cache(maxsize=64)
def _warn_unaligned(dkim_domain: str, from_domain: str) -> None:
    """Warn once per pair when DMARC is unlikely to pass: the signing domain and the From domain do not share
    their last two labels (DMARC relaxed alignment, RFC 7489 section 3.1.1, wants one organizational domain).
    """
    if dkim_domain.split(".")[-2:] != from_domain.split(".")[-2:]:
        log.warning(
            "DKIM signs for %s but the From address is at %s: DMARC (which Gmail, Yahoo and Outlook check) "
            "passes only when they share an organizational domain; set dkim_domain to the From domain.",
            dkim_domain, from_domain,
        )  # fmt: skip


def _as_text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        raise InvalidMessageError(f"{name} is bytes; give text.")
    return str(value)
