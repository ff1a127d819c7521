"""What every OAuth2 token source shares: the token, its cache and renewal margin, the errors, masking.

The overview (which library talks to which endpoint, and why) is the package docstring, ``oauth/__init__.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from airflow_provider_smtpconn.connection.oauth2_fields import OAUTH2_PROVIDERS
from airflow_provider_smtpconn.exceptions import TokenEndpointUnavailableError, TokenRefusedError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

PROVIDERS = OAUTH2_PROVIDERS
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
#: The lifetime assumed when a token endpoint gives no ``expires_in`` (RFC 6749 only recommends it), in seconds.
DEFAULT_LIFETIME = 3600.0
_EXTRAS = {"microsoft": "msal", "google": "google-auth"}

#: The clock tokens are timed by (seconds since the epoch); tests replace it to move time without waiting.
clock: Callable[[], float] = time.time


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is replaced, in seconds: 5 minutes, or 10% of a lifetime under 50 minutes."""
    return min(300.0, 0.1 * max(lifetime, 0.0))


@dataclass(frozen=True)
class AccessToken:
    """An OAuth2 access token: its value (never shown by ``repr``), when it expires (epoch seconds), its source."""

    value: str = field(repr=False)
    expires_at: float
    source: str

    @property
    def expires_in(self) -> float:
        """Seconds until the token expires (negative once it has)."""
        return self.expires_at - clock()


class TokenSource:
    """Fetches OAuth2 access tokens from one provider for one set of credentials, and caches them.

    Thread-safe: one lock guards the cached token, so concurrent callers wait for one fetch instead of each making
    their own. Subclasses implement :meth:`_fetch`.
    """

    name: ClassVar[str]

    def __init__(self, *, endpoint: str, timeout: float, secrets: tuple[str | None, ...] = ()) -> None:
        self.endpoint = endpoint
        self.host = urlsplit(endpoint).hostname or endpoint
        self.timeout = timeout
        self._secrets = tuple(s for s in secrets if s)
        mask(*self._secrets)
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.host}>"

    def token(self, *, force_refresh: bool = False) -> AccessToken:
        """The cached token while it is outside its refresh margin, else a newly fetched one.

        :param force_refresh: Fetch a new token even if the cached one looks valid (the server rejected it).
        :raises TokenRefusedError: The endpoint refused the credentials; retrying cannot help.
        :raises TokenEndpointUnavailableError: The endpoint could not be reached, timed out or answered 5xx.
        """
        with self._lock:
            if not force_refresh and self._token is not None and clock() < self._refresh_at:
                return self._token
            value, lifetime = self._fetch()
            mask(value)
            now = clock()
            self._token = AccessToken(value, now + lifetime, self.name)
            self._refresh_at = now + lifetime - refresh_margin(lifetime)
            log.info("Fetched an OAuth2 access token from %s (%s), valid for %.0f s.", self.name, self.host, lifetime)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        """Fetch one token: ``(value, lifetime in seconds)``; raise this package's errors, never a library's."""
        raise NotImplementedError

    # -- errors ---------------------------------------------------------------------------------------

    def _scrub(self, text: str | None) -> str:
        """The first line of a server's error description, cut short, with any secret of ours taken out."""
        line = str(text or "")
        for secret in self._secrets:  # before cutting, so no part of a secret survives the cut
            line = line.replace(secret, "***")
        return " ".join(line.split("\n", 1)[0].split())[:200]

    def _refused(self, code: str | None, description: str | None, hint: str) -> TokenRefusedError:
        code = self._scrub(code)[:60] or "invalid_request"
        said = self._scrub(description)
        said = f' ("{said}")' if said else ""
        what = (
            "presented a certificate this worker does not trust (untrusted_certificate)"
            if code == "untrusted_certificate"
            else f"refused the request with {code}{said}"
        )
        return TokenRefusedError(
            f"The {self.name} token endpoint {self.host} {what}: {hint}.",
            provider=self.name,
            host=self.host,
            error_code=code,
        )

    def _unavailable(
        self, exc: BaseException | None = None, *, status: int | None = None, server_error: bool = False
    ) -> Exception:
        """The error for a failed exchange: a timeout, an unreachable host, a 5xx or 429 answer, an untrusted
        certificate (permanent), or another 4xx answer that was not an OAuth2 error (permanent).
        """
        if status is not None and status != 429 and status < 500:
            return self._refused(f"http_{status}", None, "check the token endpoint URL")
        if status is not None or server_error:
            code = "server_error"
            what = f"answered HTTP {status}" if status is not None else "answered with a server error"
            hint = "the endpoint has trouble on its side; it is retried within the connection's retry rules"
        elif _caused_by(exc, "SSLError", "SSLCertVerificationError"):
            return self._refused(
                "untrusted_certificate",
                None,
                "trust its CA with REQUESTS_CA_BUNDLE, or check for a proxy that intercepts TLS",
            )
        elif not _caused_by(exc, "NewConnectionError", "NameResolutionError", "ConnectionRefusedError") and _caused_by(
            exc, "Timeout", "TimeoutError", "ReadTimeoutError", "ConnectTimeoutError"
        ):  # urllib3's NewConnectionError (refused, no route) derives from ConnectTimeoutError: ask for it first
            code, what = "timeout", f"did not answer within {self.timeout:g} s"
            hint = "check that the worker can reach it (proxy, firewall), or raise the connection's timeout"
        else:
            code, what = "unreachable", "could not be reached"
            hint = "check the host name and that the worker can reach it (DNS, proxy, firewall)"
        return TokenEndpointUnavailableError(
            f"The {self.name} token endpoint {self.host} {what} ({code}): {hint}.",
            provider=self.name,
            host=self.host,
            error_code=code,
        )


def _caused_by(exc: BaseException | None, *names: str) -> bool:
    """Whether ``exc`` or an exception it came from is of a class (or subclass of a class) with one of ``names``."""
    for _ in range(8):
        if exc is None:
            return False
        if any(cls.__name__ in names for cls in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def mask(*secrets: str | None) -> None:
    """Register secrets with Airflow's masker, where Airflow is there (this module also runs without it)."""
    try:
        from airflow_provider_smtpconn.version_compat import mask_secret
    except ImportError:  # no Airflow at all: nothing to register with
        return
    for secret in secrets:
        if secret:
            mask_secret(secret)
