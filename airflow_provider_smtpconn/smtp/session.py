"""One SMTP session over the standard library's ``smtplib``: TLS policy, AUTH, SIZE, pipelining, and sending.

Nothing here imports Airflow. The retry rules for sending live in ``stream.py`` (one message or many); connecting
follows these:

* a connection refused or reset, a timeout or a 421 greeting is transient, retried by those rules; a server that
  never greets, a TLS failure and an authentication failure are not;
* with an OAuth2 token source, an unreachable, silent or 5xx token endpoint is retried like a lost connection; a
  token due for renewal is renewed before the next message on a new connection (AUTH cannot be repeated on one);
  a provider's token the server rejects (535) gets one new token on one new connection, never more.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import (
    NoGreetingError,
    ServerRejectedTokenError,
    SmtpAuthError,
    SmtpConfigError,
    SmtpTLSError,
)
from airflow_provider_smtpconn.smtp.auth import authenticate
from airflow_provider_smtpconn.smtp.replies import (
    ErrorTranslator,
    no_starttls_advice,
    reply_error,
    reply_text,
    was_timeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.oauth import AccessToken
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings
    from airflow_provider_smtpconn.smtp.stream import MessageStream
    from airflow_provider_smtpconn.smtp.transaction import SendOutcome, SendResult

log = logging.getLogger(__name__)


class SmtpSession:
    """One SMTP connection and its settings; sends any number of messages over it.

    Use it as a context manager: the connection opens on the first send (or :meth:`connect`) and QUIT is sent
    on exit. After a transient failure it reconnects by itself.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self.tls_version: str | None = None
        self.authenticated_as: str | None = None
        self.auth_mechanism: str | None = None
        #: The OAuth2 token the open connection authenticated with, if it came from a token source.
        self.token: AccessToken | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connecting ---------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying context (system store plus ``ca_bundle``), or a non-verifying one if asked for.

        :raises SmtpConfigError: if ``ca_bundle`` cannot be loaded.
        """
        if self._ssl_context is None:
            context = ssl.create_default_context()
            bundle = self.settings.ca_bundle
            if bundle:
                pem = "-----BEGIN" in bundle
                try:
                    context.load_verify_locations(**({"cadata": bundle} if pem else {"cafile": bundle}))
                except (OSError, ssl.SSLError) as exc:
                    shown = "the PEM text given" if pem else repr(bundle)
                    raise SmtpConfigError(f"ca_bundle {shown} could not be loaded: {exc}.") from exc
            if self.settings.ignore_self_signed:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl_context = context
        return self._ssl_context

    def connect(self) -> smtplib.SMTP:
        """Open the connection if it is not open: connect, greeting, TLS, EHLO, AUTH. One attempt, no retry.

        With a token source, the token is fetched first; if the server rejects it, one new token is fetched and
        one new connection tried (:class:`SmtpAuthError` if that is rejected too).
        """
        if self._smtp is not None:
            return self._smtp
        source = self.settings.token_source
        if source is None:
            return self._connect(None)
        try:
            return self._connect(source.token())
        except ServerRejectedTokenError as exc:
            log.warning("%s Fetching a new token and authenticating once more on a new connection.", exc)
        try:
            return self._connect(source.token(force_refresh=True))
        except ServerRejectedTokenError as exc:
            raise SmtpAuthError(
                f"{exc} A newly fetched token was rejected too: the token endpoint accepts the app, but the server "
                f"does not let it send as {self.settings.username!r}; check the app's permission to send mail for "
                "this mailbox (see the README, OAuth2 token sources)."
            ) from None

    def _connect(self, token: AccessToken | None) -> smtplib.SMTP:
        s = self.settings
        context = self.ssl_context() if s.tls_mode != "none" else None
        smtp: smtplib.SMTP | None = None
        try:
            with self.translate_errors("connecting"):
                smtp = self._open(context)
                self._ehlo(smtp)
                if s.tls_mode == "starttls" and context is not None:
                    self._starttls(smtp, context)
                if isinstance(smtp.sock, ssl.SSLSocket):
                    self.tls_version = smtp.sock.version()
                if s.username:
                    self.auth_mechanism = authenticate(smtp, s, token)
                    self.authenticated_as, self.token = s.username, token
        except BaseException:
            if smtp is not None:
                smtp.close()
            raise
        assert smtp is not None  # _open() returned or raised
        self._smtp = smtp
        return smtp

    def _open(self, context: ssl.SSLContext | None) -> smtplib.SMTP:
        """Connect and read the greeting; a connected socket that stays silent is :class:`NoGreetingError`."""
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls_mode == "implicit":
            smtp = smtplib.SMTP_SSL(local_hostname=s.local_hostname, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(local_hostname=s.local_hostname, timeout=s.timeout)
        smtp._host = s.host  # type: ignore[attr-defined]  # what smtplib checks the certificate against
        # smtplib's own connect() in two steps, so a silent server can be told from an unreachable one.
        smtp.sock = smtp._get_socket(s.host, s.port, s.timeout)  # type: ignore[attr-defined]  # TCP (+ implicit TLS)
        try:
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            if not was_timeout(exc) or s.tls_mode == "implicit":
                raise
            smtp.close()
            raise NoGreetingError(
                f"{s.address} accepted the connection but sent no greeting within {s.timeout:g} s: the server "
                "may expect TLS from the first byte; use tls_mode 'implicit' (usually port 465)."
            ) from None
        if code != 220:
            smtp.close()
            raise smtplib.SMTPConnectError(code, reply)
        _no_delay(smtp)
        return smtp

    def _ehlo(self, smtp: smtplib.SMTP) -> None:
        code, reply = smtp.ehlo()
        if 200 <= code < 300:
            return
        if code == 421 or code < 0:
            raise reply_error("EHLO", code, reply, self.settings.address)
        code, reply = smtp.helo()
        if not 200 <= code < 300:
            raise reply_error("HELO", code, reply, self.settings.address)

    def _starttls(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        s = self.settings
        if not smtp.has_extn("starttls"):
            raise SmtpTLSError(no_starttls_advice(s))
        try:
            smtp.starttls(context=context)
        except smtplib.SMTPResponseException as exc:
            raise SmtpTLSError(f"{s.address} refused STARTTLS: {exc.smtp_code} {reply_text(exc.smtp_error)}") from exc
        self._ehlo(smtp)  # RFC 3207 §4.2: forget what was learnt before TLS and ask again.

    def close(self) -> None:
        """Send QUIT and close; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def discard(self) -> None:
        """Close the connection without QUIT (it is part-way through something); never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def translate_errors(self, doing: str) -> ErrorTranslator:
        """A context that turns socket and ``smtplib`` errors while ``doing`` something into this package's."""
        return ErrorTranslator(self.settings, doing, discard=self.discard, is_open=lambda: self._smtp is not None)

    @property
    def pipelining(self) -> bool:
        """Whether the open connection pipelines: the server offers PIPELINING and ``pipelining`` is not off."""
        smtp = self._smtp
        return smtp is not None and self.settings.pipelining != "off" and smtp.has_extn("pipelining")

    # -- checking -----------------------------------------------------------------------------------

    def check(self) -> str:
        """Connect, TLS, EHLO, AUTH and NOOP, then QUIT; say what was reached. Sends no mail.

        :raises SmtpProviderError: (a subclass) for what failed and where.
        """
        s = self.settings
        try:
            smtp = self.connect()
            if self.pipelining:
                commands = "the session pipelines (the server offers PIPELINING)"
            elif smtp.has_extn("pipelining"):
                commands = "one command at a time (pipelining is off for this connection)"
            else:
                commands = "one command at a time (the server does not offer PIPELINING)"
            with self.translate_errors("NOOP"):
                code, reply = smtp.noop()
            if code != 250:
                raise reply_error("NOOP", code, reply, s.address)
        finally:
            self.close()
        tls = {
            "starttls": f"STARTTLS ({self.tls_version})",
            "implicit": f"implicit TLS ({self.tls_version})",
            "none": "no TLS",
        }[s.tls_mode or "none"]
        if s.tls_mode != "none" and s.ignore_self_signed:
            tls += ", certificate not verified"
        who = f"authenticated as {self.authenticated_as!r}" if self.authenticated_as else "no login"
        if self.authenticated_as and self.token is not None:
            minutes = max(self.token.expires_in, 0) // 60
            who += f" with XOAUTH2 (token from {self.token.source}, valid for {minutes:.0f} min)"
        return f"Reached {s.address} with {tls}, {who}; {commands}; the server answered NOOP with 250."

    # -- sending ----------------------------------------------------------------------------------------------

    def stream(
        self, *, on_outcome: Callable[[Any, SendOutcome], object], on_commit: Callable[[Any], object] | None = None
    ) -> MessageStream:
        """A stream of messages over this session, pipelined when the server allows it (see ``stream.py``)."""
        from airflow_provider_smtpconn.smtp.stream import MessageStream

        return MessageStream(self, on_outcome=on_outcome, on_commit=on_commit)

    def send(self, message: WireMessage, *, on_commit: Callable[[str], object] | None = None) -> SendResult:
        """Send one message, retrying only where that cannot deliver it twice (the rules of ``stream.py``).

        :param message: The message as ``message.compose`` or ``message.writer.from_email_message`` wrote it;
            every try sends the same bytes.
        :param on_commit: Called with the Message-ID right before the final ``.`` is sent: after it returns
            the message may have been delivered. An exception from it aborts the send with nothing delivered.
        :raises RecipientsRefusedError: if every recipient is refused.
        :raises DeliveryUnknownError: if the connection was lost after the final ``.`` (not resent).
        :raises SmtpProviderError: (subclasses) for every other failure, after the retries where allowed.
        """
        outcomes: list[SendOutcome] = []
        commit = None if on_commit is None else (lambda _tag: on_commit(message.message_id))
        with self.stream(on_outcome=lambda _tag, outcome: outcomes.append(outcome), on_commit=commit) as stream:
            stream.submit(message)
            stream.flush()
        return outcomes[0].raise_for_error()

    def send_many(
        self, messages: Iterable[WireMessage], *, on_commit: Callable[[str], object] | None = None
    ) -> list[SendOutcome]:
        """Send the messages in order over this session; pipelined, each envelope goes in the same write as the
        previous message's final ``.``, so a steady stream costs one round trip per message (RFC 2920).

        :param on_commit: Called with a message's Message-ID right before its final ``.``.
        :return: One :class:`SendOutcome` per message, in order: its ``SendResult`` or its error. A message's own
            failure (recipients refused, rejected, deferred past its retries, delivery unknown) is its error alone;
            a failure that stops the session (it cannot connect, authenticate or stay connected within the
            retries, the server keeps closing with 421, ``on_commit`` raised) is the error of the message it
            stopped at and of every later one, none of which was sent.
        """
        from airflow_provider_smtpconn.smtp.stream import send_many

        return send_many(self, messages, on_commit=on_commit)

    def token_stale(self) -> bool:
        """Whether the open connection authenticated with a token its source has since replaced."""
        source = self.settings.token_source
        if source is None or self._smtp is None or self.token is None:
            return False
        return source.token().value != self.token.value

    def renew_stale_token(self) -> None:
        """Close an open connection whose token its source has replaced (due for renewal, or renewed by another
        session), so the next connect authenticates with the new one: AUTH cannot be repeated on a connection.
        """
        if self.token_stale():
            log.info("The OAuth2 token of this SMTP session is due for renewal; reconnecting with a new token.")
            self.close()


def _no_delay(smtp: smtplib.SMTP) -> None:
    """Turn off Nagle's algorithm: the body's final dot is a small write right after the body's last chunk, and
    would otherwise wait for the server's delayed ACK (40 ms on Linux) on every message.
    """
    with contextlib.suppress(OSError, AttributeError):  # not TCP (a Unix socket, a test double): nothing to tune
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
