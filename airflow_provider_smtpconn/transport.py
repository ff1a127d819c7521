"""One SMTP session over the standard library's ``smtplib``: TLS policy, AUTH, SIZE, send, and retry rules.

Nothing here imports Airflow. The retry rules live in one place, :meth:`SmtpSession.send`:

* until the final ``.`` of the body has been handed to the socket, nothing can have been delivered, so a
  lost connection, a timeout or a 4xx reply is retried with a fresh connection and exponential backoff;
* a 5xx reply, an authentication failure and a TLS failure are permanent and raised at once;
* once the final ``.`` is out, a lost connection or a timeout leaves the outcome unknown: it is raised as
  :class:`DeliveryUnknownError` and never retried, so a message is sent at most once.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import logging
import math
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.utils import getaddresses, make_msgid
from typing import TYPE_CHECKING, Any

import tenacity

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    MessageError,
    MessageTooLargeError,
    RecipientsRefusedError,
    SmtpAuthError,
    SmtpConfigError,
    SmtpConnectionError,
    SmtpConnError,
    SmtpPermanentError,
    SmtpTemporaryFailure,
    SmtpTLSError,
)
from airflow_provider_smtpconn.mime import CRLF, RenderedMessage, StreamedPart

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message
    from email.policy import Policy

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "implicit", "none")
AUTH_TYPES = ("basic", "xoauth2")
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """Everything needed to open an SMTP session; validated when built, before anything connects."""

    host: str
    port: int | None = None
    tls_mode: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth_type: str = "basic"
    ignore_self_signed: bool = False
    ca_bundle: str | None = None
    timeout: float = 30.0
    retry_limit: int = 3
    retry_wait: float = 1.0
    retry_wait_max: float = 30.0
    local_hostname: str | None = None
    allow_plaintext_auth: bool = False

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host or any(c.isspace() for c in host):
            raise SmtpConfigError(f"The connection's host {self.host!r} is not a host name or IP address.")
        tls_mode = self.tls_mode or ("implicit" if self.port == 465 else "starttls")
        if tls_mode not in TLS_MODES:
            raise SmtpConfigError(f"tls_mode {self.tls_mode!r} is not one of {', '.join(TLS_MODES)}.")
        port = self.port if self.port is not None else DEFAULT_PORTS[tls_mode]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise SmtpConfigError(f"The connection's port {self.port!r} is not a number from 1 to 65535.")
        if self.auth_type not in AUTH_TYPES:
            raise SmtpConfigError(f"auth_type {self.auth_type!r} is not one of {', '.join(AUTH_TYPES)}.")
        if self.auth_type == "xoauth2" and not (self.username and self.password):
            raise SmtpConfigError(
                "auth_type 'xoauth2' needs the mailbox as login and an OAuth2 access token as password or access_token."
            )
        _check_number("timeout", self.timeout, minimum=0, inclusive=False)
        _check_number("retry_limit", self.retry_limit, minimum=0, integer=True)
        _check_number("retry_wait", self.retry_wait, minimum=0)
        _check_number("retry_wait_max", self.retry_wait_max, minimum=0)
        if self.local_hostname is not None and (
            not self.local_hostname
            or not all(c.isascii() and c.isprintable() and not c.isspace() for c in self.local_hostname)
        ):
            raise SmtpConfigError(
                f"local_hostname {self.local_hostname!r} is not a host name: it is sent in EHLO and may not be empty "
                "or contain spaces, line breaks or non-ASCII characters."
            )
        if self.username and tls_mode == "none" and not self.allow_plaintext_auth and not is_loopback(host):
            raise SmtpConfigError(
                f"Refusing to send the password for {self.username!r} in plain text to {host}:{port}: "
                "tls_mode is 'none'. Use 'starttls' or 'implicit', or set allow_plaintext_auth for a "
                "trusted relay."
            )
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "tls_mode", tls_mode)
        object.__setattr__(self, "port", port)

    @property
    def address(self) -> str:
        """``host:port``, as errors and logs show it."""
        return f"{self.host}:{self.port}"


def _check_number(name: str, value: Any, *, minimum: float, inclusive: bool = True, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < minimum if inclusive else value <= minimum):
        kind = "a whole number" if integer else "a number"
        bound = f"at least {minimum:g}" if inclusive else f"above {minimum:g}"
        raise SmtpConfigError(f"{name} {value!r} is not {kind} {bound}.")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine, decided without a DNS lookup."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class SendResult:
    """What the server said about one message."""

    message_id: str
    accepted: list[str]
    refused: dict[str, tuple[int, str]]
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form, as the operator returns it to XCom."""
        return {
            "message_id": self.message_id,
            "accepted": list(self.accepted),
            "refused": {addr: [code, text] for addr, (code, text) in self.refused.items()},
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class Envelope:
    """Sender and recipients of one message, taken from its headers (Bcc included)."""

    sender: str
    recipients: list[str]

    @classmethod
    def of(cls, message: Message) -> Envelope:
        """Read the envelope from ``Sender``/``From`` and ``To``/``Cc``/``Bcc``."""
        senders = [a for _, a in getaddresses([str(v) for v in message.get_all("Sender", [])]) if a]
        senders = senders or [a for _, a in getaddresses([str(v) for v in message.get_all("From", [])]) if a]
        if not senders:
            raise MessageError("The message has no From address.")
        recipients: list[str] = []
        seen: set[str] = set()
        for header in ("To", "Cc", "Bcc"):
            for _, addr in getaddresses([str(v) for v in message.get_all(header, [])]):
                if addr and addr.lower() not in seen:
                    seen.add(addr.lower())
                    recipients.append(addr)
        if not recipients:
            raise MessageError("The message has no recipient in To, Cc or Bcc.")
        return cls(senders[0], recipients)

    @property
    def needs_smtputf8(self) -> bool:
        """Whether an address itself (not only a display name) is non-ASCII."""
        return not all(a.isascii() for a in (self.sender, *self.recipients))


class _DataStream:
    """Writes the DATA body to the socket in ~64 KiB writes, dot-stuffing lines that start with a period."""

    def __init__(self, smtp: smtplib.SMTP, bufsize: int = 64 * 1024) -> None:
        self._smtp = smtp
        self._bufsize = bufsize
        self._buffer = bytearray()
        self._line_start = True

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._line_start and data[:1] == b".":
            self._buffer += b"."
        self._buffer += data.replace(b"\n.", b"\n..")
        self._line_start = data.endswith(b"\n")
        if len(self._buffer) >= self._bufsize:
            self.flush()

    def write_streamed(self, part: StreamedPart) -> None:
        # base64 lines never start with a period: no stuffing needed.
        for chunk in part.iter_base64():
            self.write(chunk)

    def flush(self) -> None:
        if self._buffer:
            self._smtp.send(bytes(self._buffer))
            self._buffer.clear()

    @property
    def terminator(self) -> bytes:
        return (b"" if self._line_start else CRLF) + b"." + CRLF


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _reply_error(what: str, code: int, reply: bytes | str, address: str) -> SmtpTemporaryFailure | SmtpPermanentError:
    text = _reply_text(reply)
    if 400 <= code < 500:
        return SmtpTemporaryFailure(f"{address} answered {what} with {code} {text} (temporary).", code, text)
    return SmtpPermanentError(f"{address} refused {what}: {code} {text}", code, text)


def _was_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connecting ---------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying context (system store plus ``ca_bundle``), or a non-verifying one if asked for."""
        if self._ssl_context is None:
            context = ssl.create_default_context()
            bundle = self.settings.ca_bundle
            if bundle:
                try:
                    if "-----BEGIN" in bundle:
                        context.load_verify_locations(cadata=bundle)
                    else:
                        context.load_verify_locations(cafile=bundle)
                except (OSError, ssl.SSLError) as exc:
                    shown = "the PEM text given" if "-----BEGIN" in bundle else repr(bundle)
                    raise SmtpConfigError(f"ca_bundle {shown} could not be loaded: {exc}.") from exc
            if self.settings.ignore_self_signed:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl_context = context
        return self._ssl_context

    def connect(self) -> smtplib.SMTP:
        """Open the connection if it is not open: connect, TLS, EHLO, AUTH. One attempt, no retry."""
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        context = self.ssl_context() if s.tls_mode != "none" else None
        smtp: smtplib.SMTP | None = None
        try:
            with self._translate_errors("connecting"):
                # Passing the host connects at once and makes smtplib check the certificate against it.
                if s.tls_mode == "implicit":
                    smtp = smtplib.SMTP_SSL(
                        s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout, context=context
                    )
                else:
                    smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout)
                _no_delay(smtp)
                self._ehlo(smtp)
                if s.tls_mode == "starttls":
                    self._starttls(smtp, context)  # type: ignore[arg-type]
                if s.tls_mode != "none":
                    self.tls_version = smtp.sock.version()  # type: ignore[union-attr]
                if s.username:
                    self._authenticate(smtp)
        except BaseException:
            if smtp is not None:
                smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _ehlo(self, smtp: smtplib.SMTP) -> None:
        code, reply = smtp.ehlo()
        if 200 <= code < 300:
            return
        if code == 421 or code < 0:
            raise _reply_error("EHLO", code, reply, self.settings.address)
        code, reply = smtp.helo()
        if not 200 <= code < 300:
            raise _reply_error("HELO", code, reply, self.settings.address)

    def _starttls(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        s = self.settings
        if not smtp.has_extn("starttls"):
            raise SmtpTLSError(
                f"{s.address} does not offer STARTTLS, and tls_mode is 'starttls': refusing to continue in "
                "plain text. Use tls_mode 'implicit' if the server speaks TLS from the start."
            )
        try:
            smtp.starttls(context=context)
        except smtplib.SMTPResponseException as exc:
            raise SmtpTLSError(f"{s.address} refused STARTTLS: {exc.smtp_code} {_reply_text(exc.smtp_error)}") from exc
        self._ehlo(smtp)  # RFC 3207: forget what was learnt before TLS and ask again.

    def _authenticate(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        user, secret = s.username or "", s.password or ""
        try:
            offered = smtp.esmtp_features.get("auth", "").upper().split()
            # One mechanism, one attempt: smtplib's login() would try each offered mechanism in turn, and
            # every failed try counts towards the account's lockout.
            wanted = ("XOAUTH2",) if s.auth_type == "xoauth2" else ("CRAM-MD5", "PLAIN", "LOGIN")
            mechanism = next((m for m in wanted if m in offered), None)
            if mechanism is None:
                raise SmtpAuthError(
                    f"{s.address} offers AUTH {' '.join(offered) or '(nothing)'}, none of which auth_type "
                    f"{s.auth_type!r} can use ({', '.join(wanted)})."
                )
            smtp.user, smtp.password = user, secret
            if mechanism == "XOAUTH2":
                smtp.auth(
                    "XOAUTH2",
                    lambda challenge=None: f"user={user}\x01auth=Bearer {secret}\x01\x01" if challenge is None else "",
                )
            else:
                smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower().replace("-", "_")))
        except smtplib.SMTPAuthenticationError as exc:
            text = _reply_text(exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                raise SmtpTemporaryFailure(
                    f"{s.address} could not authenticate {user!r} right now: {exc.smtp_code} {text}",
                    exc.smtp_code,
                    text,
                ) from None
            raise SmtpAuthError(
                f"{s.address} rejected the credentials of {user!r} ({s.auth_type}): {exc.smtp_code} {text}"
            ) from None
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            raise SmtpAuthError(f"Authentication of {user!r} at {s.address} failed: {exc}") from None
        self.authenticated_as = user

    def close(self) -> None:
        """Send QUIT and close; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _translate_errors(self, doing: str) -> _ErrorTranslator:
        return _ErrorTranslator(self, doing)

    # -- checking -----------------------------------------------------------------------------------

    def check(self) -> str:
        """Connect, TLS, EHLO, AUTH and NOOP, then QUIT; say what was reached. Sends no mail."""
        s = self.settings
        try:
            smtp = self.connect()
            with self._translate_errors("NOOP"):
                code, reply = smtp.noop()
            if code != 250:
                raise _reply_error("NOOP", code, reply, s.address)
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
        return f"Reached {s.address} with {tls}, {who}; the server answered NOOP with 250."

    # -- sending ------------------------------------------------------------------------------------

    def send(self, message: Message, *, on_commit: Callable[[str], None] | None = None) -> SendResult:
        """Send one message, retrying only where that cannot deliver it twice.

        Envelope recipients come from To, Cc and Bcc; the Bcc header is not sent. A Message-ID is added
        if the message has none. Raises :class:`RecipientsRefusedError` if every recipient is refused.

        :param on_commit: Called with the Message-ID right before the body's final ``.`` is sent: the point
            after which the message may have been delivered (at most once per call of this method).
        """
        envelope = Envelope.of(message)
        wire = copy.copy(message)  # shallow: the header list is replaced below, the parts are shared
        del wire["Bcc"]
        if wire["Message-ID"] is None:
            wire["Message-ID"] = make_msgid(domain=envelope.sender.rpartition("@")[2] or None)
        message_id = str(wire["Message-ID"]).strip()
        policy: Policy = wire.policy
        if envelope.needs_smtputf8:
            policy = policy.clone(utf8=True)
        rendered = RenderedMessage(wire, policy)  # flattened once: the size now, the same bytes on every try
        body_8bit = _has_8bit_body(wire)
        s = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, SmtpConnError) and e.transient),
            stop=tenacity.stop_after_attempt(s.retry_limit + 1),
            wait=tenacity.wait_exponential(multiplier=s.retry_wait, max=s.retry_wait_max),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    final = attempt.retry_state.attempt_number > s.retry_limit
                    return self._send_once(
                        rendered, envelope, message_id, body_8bit=body_8bit, final=final, on_commit=on_commit
                    )
        except SmtpConnError as exc:
            if exc.transient and s.retry_limit:
                exc.args = (f"{exc.args[0]} Gave up after {s.retry_limit + 1} attempts.", *exc.args[1:])
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("SMTP attempt %d failed: %s Retrying in %.1f s.", state.attempt_number, exc, wait)

    def _send_once(
        self,
        rendered: RenderedMessage,
        envelope: Envelope,
        message_id: str,
        *,
        body_8bit: bool,
        final: bool,
        on_commit: Callable[[str], None] | None = None,
    ) -> SendResult:
        s = self.settings
        size = rendered.size
        smtp = self.connect()
        features = smtp.esmtp_features
        limit = int(features.get("size", "0").strip() or 0) if "size" in features else 0
        if limit and size > limit:
            raise MessageTooLargeError(
                f"The message is {size} bytes but {s.address} accepts at most {limit} bytes (SIZE); "
                "make the attachments smaller."
            )
        options: list[str] = []
        if "size" in features:
            options.append(f"SIZE={size}")
        if envelope.needs_smtputf8:
            if not smtp.has_extn("smtputf8"):
                raise SmtpPermanentError(
                    f"{s.address} does not offer SMTPUTF8, which the non-ASCII address in "
                    f"{[a for a in (envelope.sender, *envelope.recipients) if not a.isascii()]} needs."
                )
            options.append("SMTPUTF8")
        if body_8bit and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")

        with self._translate_errors("sending the envelope"):
            code, reply = smtp.mail(envelope.sender, options)
            if code != 250:
                self._rset(smtp)
                raise _reply_error(f"MAIL FROM {envelope.sender}", code, reply, s.address)
            accepted: list[str] = []
            refused: dict[str, tuple[int, str]] = {}
            deferred: dict[str, tuple[int, str]] = {}
            for rcpt in envelope.recipients:
                code, reply = smtp.rcpt(rcpt)
                if code == 421:
                    raise _reply_error(f"RCPT TO {rcpt}", code, reply, s.address)
                if code in (250, 251):
                    accepted.append(rcpt)
                else:
                    (deferred if 400 <= code < 500 else refused)[rcpt] = (code, _reply_text(reply))
            if deferred and not final:
                self._rset(smtp)
                raise SmtpTemporaryFailure(
                    f"{s.address} deferred {_describe(deferred)} (temporary).", *next(iter(deferred.values()))
                )
            refused.update(deferred)
            if not accepted:
                self._rset(smtp)
                if deferred:
                    raise SmtpTemporaryFailure(
                        f"{s.address} deferred every recipient: {_describe(refused)}.",
                        *next(iter(deferred.values())),
                    )
                raise RecipientsRefusedError(
                    f"{s.address} refused every recipient: {_describe(refused)}.", refused, accepted
                )
            code, reply = smtp.docmd("DATA")
            if code != 354:
                self._rset(smtp)
                raise _reply_error("DATA", code, reply, s.address)

        stream = _DataStream(smtp)
        with self._translate_errors("sending the message body (the server cannot have accepted it)"):
            rendered.write_to(stream)
            stream.flush()
        if on_commit is not None:
            try:
                on_commit(message_id)
            except BaseException:
                self._discard()  # mid-DATA without the final dot: the server drops the message
                raise
        try:
            smtp.send(stream.terminator)
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._discard()
            what = "timed out" if _was_timeout(exc) else "was lost"
            raise DeliveryUnknownError(
                f"The connection to {s.address} {what} after the whole message was sent and before the "
                "server answered: it may or may not have been delivered, so it is not resent. "
                f"Message-ID {message_id}.",
                message_id,
            ) from None
        if code != 250:
            if code == 421:
                self._discard()
            raise _reply_error("the message", code, reply, s.address)
        if refused:
            log.warning("%s accepted %s but refused %s.", s.address, ", ".join(accepted), _describe(refused))
        return SendResult(message_id, accepted, refused, size)

    def _rset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._discard()


class _ErrorTranslator:
    """Turns socket and ``smtplib`` errors raised while ``doing`` something into this package's errors.

    Any error raised inside drops the connection, except a plain non-421 reply error on an open connection,
    which leaves it usable for the next message.
    """

    def __init__(self, session: SmtpSession, doing: str) -> None:
        self.session = session
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        address = self.session.settings.address
        keep = isinstance(exc, SmtpConnError) and not exc.transient and self.session._smtp is not None
        if not keep:
            self.session._discard()
        if isinstance(exc, SmtpConnError):
            return False
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise SmtpTLSError(
                f"The TLS certificate of {address} was not accepted: {str(exc.verify_message).rstrip('.')}. "
                "Trust a private CA with the connection's ca_bundle, or set ignore_self_signed only for a server "
                "you control."
            ) from None
        if isinstance(exc, ssl.SSLError):
            raise SmtpTLSError(
                f"The TLS handshake with {address} failed: {exc.reason or exc}. Check that the port matches "
                "tls_mode (465 is usually 'implicit', 587 'starttls')."
            ) from None
        if isinstance(exc, smtplib.SMTPConnectError):
            raise _reply_error("the connection", exc.smtp_code, exc.smtp_error, address) from None
        if isinstance(exc, smtplib.SMTPResponseException):
            raise _reply_error(self.doing, exc.smtp_code, exc.smtp_error, address) from None
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            raise SmtpPermanentError(f"{address} does not support what {self.doing} needs: {exc}") from None
        if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)):
            if _was_timeout(exc):
                reason = f"no answer within {self.session.settings.timeout:g} s"
            elif isinstance(exc, ConnectionRefusedError):
                reason = "connection refused"
            elif isinstance(exc, smtplib.SMTPServerDisconnected):
                reason = "the server closed the connection"
            else:
                reason = str(exc) or type(exc).__name__
            raise SmtpConnectionError(f"SMTP to {address} failed while {self.doing}: {reason}.") from None
        return False


def _no_delay(smtp: smtplib.SMTP) -> None:
    """Turn off Nagle's algorithm: the body's final dot is a small write right after the body's last chunk, and
    would otherwise wait for the server's delayed ACK (40 ms on Linux) on every message."""
    with contextlib.suppress(OSError, AttributeError):  # not TCP (a Unix socket, a test double): nothing to tune
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]


def _describe(replies: dict[str, tuple[int, str]]) -> str:
    return "; ".join(f"{addr} ({code} {text})" for addr, (code, text) in replies.items())


def _has_8bit_body(message: Message) -> bool:
    return any(
        str(part.get("Content-Transfer-Encoding", "")).lower() == "8bit"
        for part in message.walk()
        if not isinstance(part, StreamedPart)
    )
