"""Every error this package raises, in one tree under :class:`SmtpProviderError`::

    SmtpProviderError (AirflowException)      the base; .transient says whether the session retries it
    ├── SmtpConfigError *                     a connection field is missing or invalid (before connecting)
    ├── InvalidMessageError *                 the message's parameters are invalid (before connecting)
    │   ├── HeaderInjectionError              a header value is, or decodes to, a line break or NUL
    │   ├── AttachmentError                   an attachment cannot be read, converted, or is too large
    │   │   └── InlineImageError              a value given to inline_image is not an image
    │   ├── TableError                        rows given to email_table cannot become a table
    │   ├── RowKeyError                       a mail merge row has no usable row_key
    │   └── BadRowsError                      mail merge rows cannot become messages (on_bad_row="fail")
    ├── SmtpTransientError                    retried by the session; raised when the retries are used up
    │   ├── SmtpNetworkError                  the connection failed or broke before the final dot
    │   ├── SmtpTemporaryError                a 4xx reply (RFC 5321 section 4.2.1)
    │   └── TokenEndpointUnavailableError     an OAuth2 token endpoint unreachable, silent or answering 5xx
    ├── NoGreetingError                       connected but no greeting: not retried by the session
    ├── JournalError                          the mail merge journal cannot be read or written
    ├── TooManyFailuresError                  more mail merge rows failed than max_failures allows
    ├── SmtpPermanentError *                  a 5xx reply
    │   ├── RecipientsRefusedError            every recipient refused, or some with on_refused="fail"
    │   └── MessageTooLargeError              larger than the server's SIZE (RFC 1870)
    ├── SmtpTLSError *                        TLS could not be set up as asked
    ├── SmtpAuthError *                       authentication failed or was refused
    │   ├── TokenRefusedError                 an OAuth2 token endpoint refused the request
    │   └── ServerRejectedTokenError          the server refused a fetched token (the session fetches one more)
    ├── DeliveryUnknownError *                the final dot went out and no answer came: never resent
    └── AirflowVersionError *                 a feature needs a newer Airflow

``*``: also an ``AirflowFailException``: the task fails at once instead of retrying into the same wall or, worse,
sending a message twice. The others leave the task's own retries to Airflow. Each message is one sentence that
names the field or value at fault and what to do, never a secret. Every class ends in ``Error``.
"""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_smtpconn.version_compat import AirflowException, AirflowFailException


class SmtpProviderError(AirflowException):
    """Base class of every error raised by airflow-provider-smtpconn."""

    #: Whether the session may retry the whole SMTP transaction after this error.
    transient: ClassVar[bool] = False


# -- bad input: raised before anything connects -----------------------------------------------------------------


class SmtpConfigError(SmtpProviderError, AirflowFailException):
    """A connection setting is missing or invalid; raised before anything connects."""


class InvalidMessageError(SmtpProviderError, AirflowFailException):
    """The message itself is invalid (addresses, headers, bodies); raised before anything connects."""


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


class RowKeyError(InvalidMessageError):
    """A mail merge row has no usable ``row_key`` value; the text is the end of a sentence about the row."""


class BadRowsError(InvalidMessageError):
    """Some mail merge rows cannot become a message and ``on_bad_row`` is ``fail``: nothing was sent."""


class TableError(InvalidMessageError):
    """Rows given to ``email_table`` cannot become a table: a ragged row, an unknown column, a bad option."""


class InlineImageError(AttachmentError):
    """A value given to ``inline_image`` is not an image (PNG, JPEG or GIF), or cannot be read or drawn."""


# -- what may pass: retried by the session ----------------------------------------------------------------------


class SmtpTransientError(SmtpProviderError):
    """A failure that may pass: retried by the session, raised once the retries are used up."""

    transient = True


class SmtpNetworkError(SmtpTransientError):
    """The connection could not be made, or broke before the message's final dot was sent."""


class SmtpTemporaryError(SmtpTransientError):
    """The server answered with a 4xx reply: it accepted nothing and asked us to try again later.

    :param code: The reply code. :param reply: The reply text.
    """

    def __init__(self, message: str, code: int, reply: str) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class TokenEndpointUnavailableError(SmtpTransientError):
    """An OAuth2 token endpoint could not be reached, did not answer within the timeout, or answered 5xx; retried
    by the session like a lost SMTP connection.
    """

    def __init__(self, message: str, *, provider: str, host: str, error_code: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.host = host
        self.error_code = error_code


# -- not retried by the session, left to the task's retries -----------------------------------------------------


class NoGreetingError(SmtpProviderError):
    """The server accepted the TCP connection but sent no greeting within the timeout.

    Most often the port expects TLS from the first byte (implicit TLS) while ``tls_mode`` is ``starttls`` or
    ``none``. Not retried by the session (each try would wait the whole timeout for the same silence); the task's
    own retries still apply.
    """


class JournalError(SmtpProviderError):
    """The mail merge journal cannot be created, read or written: nothing more is sent. The task's retries resume
    from the journal once it is usable again.
    """


class TooManyFailuresError(SmtpProviderError):
    """More mail merge rows failed than ``max_failures`` allows; the merge stopped. A retry sends only rows not yet
    done.
    """


# -- what a retry cannot fix: the task fails at once ------------------------------------------------------------


class SmtpPermanentError(SmtpProviderError, AirflowFailException):
    """The server answered with a 5xx reply; retrying would give the same answer.

    :param code: The reply code, if there was a reply. :param reply: Its text.
    """

    def __init__(self, message: str, code: int | None = None, reply: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class RecipientsRefusedError(SmtpPermanentError):
    """The server refused recipients: all of them, or some while the operator was told to fail on that.

    :param refused: address -> (reply code, reply text). :param accepted: The recipients accepted.
    """

    def __init__(self, message: str, refused: dict[str, tuple[int, str]], accepted: list[str]) -> None:
        super().__init__(message)
        self.refused = refused
        self.accepted = accepted


class MessageTooLargeError(SmtpPermanentError):
    """The message is larger than the SIZE the server advertises (RFC 1870)."""


class SmtpTLSError(SmtpProviderError, AirflowFailException):
    """TLS could not be set up as asked: no STARTTLS, a failed handshake, or an untrusted certificate."""


class SmtpAuthError(SmtpProviderError, AirflowFailException):
    """Authentication failed or was refused; the text names the user, never the secret."""


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


class ServerRejectedTokenError(SmtpAuthError):
    """The SMTP server rejected (5xx) an XOAUTH2 token that came from a token source; the session fetches one new
    token and tries once more on a new connection, and raises :class:`SmtpAuthError` if that is rejected too.
    """


class DeliveryUnknownError(SmtpProviderError, AirflowFailException):
    """The body was sent but no final reply came: the server may have accepted it, so it is not resent.

    :param message_id: The Message-ID of the message whose outcome is unknown.
    """

    def __init__(self, message: str, message_id: str | None) -> None:
        super().__init__(message)
        self.message_id = message_id


class AirflowVersionError(SmtpProviderError, AirflowFailException):
    """A feature was used on an Airflow older than the one that introduced it; the text names the version."""
