"""SMTP replies and socket failures, turned into this package's errors with one sentence each.

The transport's retry rules read these errors' ``transient`` flag; the wording here is what users see.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING, Literal

from airflow_provider_smtpconn.exceptions import (
    SmtpNetworkError,
    SmtpPermanentError,
    SmtpProviderError,
    SmtpTemporaryError,
    SmtpTLSError,
)
from airflow_provider_smtpconn.smtp.settings import is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.smtp.settings import SmtpSettings


def reply_text(reply: bytes | str) -> str:
    """A server reply as one line of text (multi-line replies joined, undecodable bytes replaced)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def reply_error(what: str, code: int, reply: bytes | str, address: str) -> SmtpTemporaryError | SmtpPermanentError:
    """The error for a reply ``code`` to ``what``: temporary for 4xx (RFC 5321 §4.2.1), permanent otherwise."""
    text = reply_text(reply)
    if 400 <= code < 500:
        return SmtpTemporaryError(f"{address} answered {what} with {code} {text} (temporary).", code, text)
    return SmtpPermanentError(f"{address} refused {what}: {code} {text}", code, text)


def too_many_recipients(code: int, reply: bytes | str) -> bool:
    """Whether a reply to RCPT says the transaction holds as many recipients as the server takes: ``452`` (RFC 5321
    section 4.5.3.1.10; Gmail, Microsoft 365 and Amazon SES add ``4.5.3``), or the ``552`` of older servers that
    section tells clients to expect, with ``5.5.3`` or the words "too many recipients". The others then go in
    another transaction.
    """
    text = reply_text(reply).lower()
    if code == 452:
        return not text[:5].startswith(("4.2.", "4.3.", "4.4.", "4.7."))  # full mailbox, system storage, ...
    return code == 552 and (text.startswith("5.5.3") or "too many recipients" in text)


def was_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` or one of the errors it was raised from is a timeout."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(replies: dict[str, tuple[int, str]]) -> str:
    """``addr (code text); ...`` for refused or deferred recipients."""
    return "; ".join(f"{addr} ({code} {text})" for addr, (code, text) in replies.items())


class ErrorTranslator:
    """Turns socket and ``smtplib`` errors raised while ``doing`` something into this package's errors.

    Any error raised inside drops the connection (``discard``), except a plain non-421 reply error on an open
    connection (``is_open()``), which leaves it usable for the next message.
    """

    def __init__(
        self, settings: SmtpSettings, doing: str, *, discard: Callable[[], None], is_open: Callable[[], bool]
    ) -> None:
        self.settings = settings
        self.doing = doing
        self._discard = discard
        self._is_open = is_open

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is None:
            return False
        keep = isinstance(exc, SmtpProviderError) and not exc.transient and self._is_open()
        if not keep:
            self._discard()
        if isinstance(exc, SmtpProviderError):
            return False
        raise self.translate(exc) from None

    def translate(self, exc: BaseException) -> SmtpProviderError:
        """The package's error for ``exc``, in one sentence."""
        address = self.settings.address
        if isinstance(exc, ssl.SSLCertVerificationError):
            return SmtpTLSError(
                f"The TLS certificate of {address} was not accepted: {str(exc.verify_message).rstrip('.')}. "
                "Trust a private CA with the connection's ca_bundle, or set ignore_self_signed only for a server "
                "you control."
            )
        if isinstance(exc, ssl.SSLError):
            return SmtpTLSError(
                f"The TLS handshake with {address} failed: {exc.reason or exc}. Check that the port matches "
                "tls_mode (465 is usually 'implicit', 587 'starttls')."
            )
        if isinstance(exc, smtplib.SMTPConnectError):
            return reply_error("the connection", exc.smtp_code, exc.smtp_error, address)
        if isinstance(exc, smtplib.SMTPResponseException):
            return reply_error(self.doing, exc.smtp_code, exc.smtp_error, address)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return SmtpPermanentError(f"{address} does not support what {self.doing} needs: {exc}")
        return self._network_error(exc)

    def _network_error(self, exc: BaseException) -> SmtpProviderError:
        s = self.settings
        if was_timeout(exc):
            reason = f"no answer within {s.timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            reason = "the server closed the connection"
        else:
            reason = str(exc) or type(exc).__name__
        return SmtpNetworkError(f"SMTP to {s.address} failed while {self.doing}: {reason}.")


def no_starttls_advice(s: SmtpSettings) -> str:
    """Why ``tls_mode`` starttls stopped at a server without STARTTLS, and which modes to try instead."""
    where = f"{s.address} does not offer STARTTLS, and tls_mode is 'starttls'"
    if s.tls_mode_from_port:
        where += f" (the automatic choice for port {s.port}, as TLS mode was left empty)"
    plain = "'none' for a relay without TLS"
    if not is_loopback(s.host) and s.username:
        plain += " (with allow_plaintext_auth, since the password would travel in plain text)"
    return (
        f"{where}: refusing to continue in plain text. Use tls_mode 'implicit' if the server speaks TLS from the "
        f"first byte (usually port 465), or {plain}."
    )
