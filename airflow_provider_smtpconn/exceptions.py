"""The errors this provider raises: one base class, a few precise kinds.

Errors a task retry cannot fix (bad input, a permanent refusal, an unknown delivery outcome) also derive from
Airflow's ``AirflowFailException``, so the task fails at once instead of retrying into the same wall or,
worse, sending a message twice.
"""

from __future__ import annotations

from typing import ClassVar

try:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.0 before the task SDK owned its exceptions
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef]


class SmtpProviderError(AirflowException):
    """Base class of every error raised by airflow-provider-smtpconn (formerly ``SmtpConnError``)."""

    #: Whether the transport may retry the whole SMTP transaction after this error.
    transient: ClassVar[bool] = False


class SmtpConfigError(SmtpProviderError, AirflowFailException):
    """A connection setting is missing or invalid; raised before anything connects."""


class InvalidMessageError(SmtpProviderError, AirflowFailException):
    """The message itself is invalid (addresses, headers, bodies); raised before anything connects.

    Formerly ``MessageError``, renamed so it cannot be confused with ``email.errors.MessageError``.
    """


class HeaderInjectionError(InvalidMessageError):
    """A header value (or parameter) is, or decodes to, text with CR, LF or NUL: it could inject a header.

    :param header: The header's name, or the parameter that sets it (``subject``, ``headers['X-Ticket']``).
    :param value: The value as given (before decoding RFC 2047 or RFC 2231 encodings).
    :param reason: Why it is refused, as the end of the sentence.
    """

    def __init__(self, header: str, value: str, reason: str) -> None:
        super().__init__(f"{header} {value!r} {reason}, which could inject a header (RFC 2047 encoded words count).")
        self.header = header
        self.value = value
        self.reason = reason

    def naming(self, field: str, value: str | None = None) -> HeaderInjectionError:
        """The same error, naming the parameter ``field`` (and its ``value``) instead of the header."""
        return HeaderInjectionError(field, self.value if value is None else value, self.reason)


class AttachmentError(InvalidMessageError):
    """An attachment cannot be read, decoded, converted, or is over the size limit."""


class TableError(InvalidMessageError):
    """Rows given to ``email_table`` cannot become a table: a ragged row, an unknown column, a bad option."""


class InlineImageError(AttachmentError):
    """A value given to ``inline_image`` is not an image (PNG, JPEG or GIF), or cannot be read or drawn."""


class SmtpTransientError(SmtpProviderError):
    """A failure that may pass: retried by the transport, raised once the retries are used up."""

    transient = True


class SmtpNetworkError(SmtpTransientError):
    """The connection could not be made, or broke before the message body was fully sent.

    Formerly ``SmtpConnectionError``, renamed so it reads apart from the base class.
    """


class NoGreetingError(SmtpNetworkError):
    """The server accepted the TCP connection but sent no greeting within the timeout.

    Most often the port expects TLS from the first byte (implicit TLS) while ``tls_mode`` is ``starttls`` or
    ``none``. Not retried by the transport (each try would wait the whole timeout for the same silence); the
    task's own retries still apply.
    """

    transient = False


class SmtpTemporaryFailure(SmtpTransientError):
    """The server answered with a 4xx reply: it accepted nothing and asked us to try again later."""

    def __init__(self, message: str, code: int, reply: str) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class SmtpPermanentError(SmtpProviderError, AirflowFailException):
    """The server answered with a 5xx reply; retrying would give the same answer."""

    def __init__(self, message: str, code: int | None = None, reply: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class RecipientsRefusedError(SmtpPermanentError):
    """The server refused recipients: all of them, or some while the operator was told to fail on that."""

    def __init__(self, message: str, refused: dict[str, tuple[int, str]], accepted: list[str]) -> None:
        super().__init__(message)
        self.refused = refused
        self.accepted = accepted


class MessageTooLargeError(SmtpPermanentError):
    """The message is larger than the SIZE the server advertises."""


class SmtpTLSError(SmtpProviderError, AirflowFailException):
    """TLS could not be set up as asked: no STARTTLS, a failed handshake, or an untrusted certificate."""


class SmtpAuthError(SmtpProviderError, AirflowFailException):
    """Authentication failed or was refused; the text names the user, never the secret."""


class DeliveryUnknownError(SmtpProviderError, AirflowFailException):
    """The body was sent but no final reply came: the server may have accepted it, so it is not resent."""

    def __init__(self, message: str, message_id: str | None) -> None:
        super().__init__(message)
        self.message_id = message_id


class AirflowVersionError(SmtpProviderError, AirflowFailException):
    """A feature was used on an Airflow older than the one that introduced it; the text names the version."""


class TokenRefusedError(SmtpAuthError):
    """An OAuth2 token endpoint refused the request (``invalid_client``, ``invalid_grant``, another 4xx answer) or
    could not be trusted; retrying would give the same answer. The text names the provider, the endpoint's host and
    the OAuth2 error code, never a secret.
    """

    def __init__(self, message: str, *, provider: str, host: str, error_code: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.host = host
        self.error_code = error_code


class TokenEndpointUnavailableError(SmtpTransientError):
    """An OAuth2 token endpoint could not be reached, did not answer within the timeout, or answered 5xx; retried
    by the transport like a lost SMTP connection.
    """

    def __init__(self, message: str, *, provider: str, host: str, error_code: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.host = host
        self.error_code = error_code


# The names of version 0.1, kept importable for code written against them.
SmtpConnError = SmtpProviderError
SmtpConnectionError = SmtpNetworkError
MessageError = InvalidMessageError
