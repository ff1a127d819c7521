"""OAuth2 token sources for ``auth_type: xoauth2``: Microsoft 365 (MSAL), Google (google-auth), any token URL (Authlib).

A token source fetches an access token when first asked, keeps it in this process for its lifetime minus a safety
margin (:func:`refresh_margin`: 5 minutes, or a tenth of the lifetime for tokens that live less than 50 minutes),
and fetches a new one after that. Sources are shared: two hooks on the same connection in one process get the same
source object, so they share its token and its lock (:func:`token_source_from_extras`).

Which library talks to which endpoint, and why:

* ``microsoft``: MSAL's ``ConfidentialClientApplication`` (client-credentials grant), the library Microsoft
  maintains for Entra ID; it knows Entra's endpoints, discovery document and error shapes.
* ``google``: google-auth's service-account credentials (a signed JWT assertion, with domain-wide delegation to the
  login) or its user credentials (the refresh-token grant).
* ``token_url``: Authlib's requests ``OAuth2Session``, a maintained, spec-following RFC 6749 client (client
  credentials and refresh-token grants, client authentication, error responses parsed into ``error`` codes);
  requests-oauthlib was the other candidate, but it has had no release since 2024 and needs a separate client
  class per grant.

Failures become one-sentence errors naming the provider, the endpoint's host and the OAuth2 error code:
:class:`~airflow_provider_smtpconn.exceptions.TokenRefusedError` when retrying cannot help (``invalid_client``,
``invalid_grant``, other 4xx answers, an untrusted certificate) and
:class:`~airflow_provider_smtpconn.exceptions.TokenEndpointUnavailableError` when it may (timeouts, refused
connections, 5xx answers), which the transport retries within the connection's retry rules. Every secret (client
secret, refresh token, service-account key) and every fetched token is registered with Airflow's masker, and none
is ever put in an error or a log line.

The token endpoints are trusted like any HTTPS site requests talks to: the certifi store, or ``REQUESTS_CA_BUNDLE``;
certificate checks are never turned off here (``ignore_self_signed`` applies to the SMTP server only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from airflow_provider_smtpconn.exceptions import SmtpConfigError, TokenEndpointUnavailableError, TokenRefusedError
from airflow_provider_smtpconn.settings import FIELDS_BY_KEY, OAUTH2_PROVIDERS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
        _mask(*self._secrets)
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
            _mask(value)
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
        return TokenRefusedError(
            f"The {self.name} token endpoint {self.host} refused the request with {code}{said}: {hint}.",
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


# -- Microsoft 365 ------------------------------------------------------------------------------------


class MicrosoftTokenSource(TokenSource):
    """Client-credentials tokens for Exchange Online from Microsoft Entra ID, through MSAL.

    :param authority: The Entra login host, ``https://login.microsoftonline.com`` unless a national cloud (or a
        test endpoint) is used; the tenant is appended to it.
    """

    name = "microsoft"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str = MICROSOFT_SCOPE,
        authority: str = MICROSOFT_AUTHORITY,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(endpoint=authority, timeout=timeout, secrets=(client_secret,))
        self._authority = f"{authority.rstrip('/')}/{tenant_id}"
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._app: Any = None

    def _application(self) -> Any:
        import msal

        if self._app is None:
            # instance_discovery=False: the authority is the one the connection names, so MSAL need not ask
            # login.microsoftonline.com whether it knows it (it skips that for its own hosts anyway).
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret,
                authority=self._authority,
                instance_discovery=False,
                timeout=self.timeout,
                token_cache=msal.TokenCache(),
            )
        return self._app

    def _fetch(self) -> tuple[str, float]:
        import msal
        import requests

        try:
            app = self._application()
            # This module keeps the token and decides when to replace it; MSAL's own cache would hand back the
            # token just replaced (and has no force_refresh for this grant), so it is emptied first.
            cache = app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)
            result = app.acquire_token_for_client(scopes=[self._scope])
        except requests.RequestException as exc:
            raise self._unavailable(exc, status=_http_status(exc)) from None
        except msal.exceptions.MsalServiceError as exc:  # MSAL's answer to a 5xx: "HTTP Error: 503"
            status = next((int(w) for w in str(exc).split() if w.isdigit()), 500)
            raise self._unavailable(status=status) from None
        except ValueError as exc:  # the discovery document could not be had: a wrong tenant or authority
            raise self._refused(
                "invalid_tenant", str(exc).split(". ", 1)[0], "check tenant_id (the directory ID) and oauth2_authority"
            ) from None
        if "access_token" in result:
            return result["access_token"], float(result.get("expires_in") or DEFAULT_LIFETIME)
        code = result.get("error")
        raise self._refused(code, result.get("error_description"), _MICROSOFT_HINTS.get(code, _MICROSOFT_HINT))


_MICROSOFT_HINT = "check tenant_id, client_id and client_secret in the app registration"
_MICROSOFT_HINTS = {
    "invalid_client": "check client_id and client_secret, and that the secret has not expired in the app registration",
    "unauthorized_client": "check client_id, and that the app registration lives in tenant_id",
    "invalid_scope": "check oauth2_scope (Exchange Online needs https://outlook.office365.com/.default)",
    "invalid_request": "check tenant_id (the directory ID or a verified domain) and client_id",
}


# -- Google -------------------------------------------------------------------------------------------


class GoogleTokenSource(TokenSource):
    """Tokens for Gmail from google-auth: a service account acting for the login, or a user's refresh token.

    Build with :meth:`service_account` or :meth:`refresh_token`; both validate their input before any network use.
    """

    name = "google"

    def __init__(self, credentials: Any, *, endpoint: str, timeout: float, secrets: tuple[str | None, ...]) -> None:
        super().__init__(endpoint=endpoint, timeout=timeout, secrets=secrets)
        self._credentials = credentials
        self._hints = _GOOGLE_SERVICE_ACCOUNT_HINTS if hasattr(credentials, "service_account_email") else {}

    @classmethod
    def service_account(
        cls,
        info: dict[str, Any],
        *,
        subject: str,
        scope: str = GOOGLE_SCOPE,
        token_url: str | None = None,
        timeout: float = 30.0,
    ) -> GoogleTokenSource:
        """A service account (the key file's JSON as a dict) with domain-wide delegation acting as ``subject``.

        :raises SmtpConfigError: The key is not a service-account key or its private key cannot be read.
        """
        from google.oauth2 import service_account

        key = info.get("private_key")
        key = key if isinstance(key, str) else ""
        # The masker matches a secret whole; a log line may hold one line of the PEM key, so each is a secret too.
        secrets = (key, *(line for line in key.splitlines() if len(line) > 16 and "PRIVATE KEY" not in line))
        _mask(*secrets)
        if token_url:
            info = {**info, "token_uri": token_url}
        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=[scope], subject=subject)
        except (ValueError, KeyError, TypeError):
            raise SmtpConfigError(
                "service_account_json is not a usable service-account key: it needs client_email, token_uri and a "
                "PEM private_key; download a new JSON key for the service account."
            ) from None
        return cls(credentials, endpoint=info["token_uri"], timeout=timeout, secrets=secrets)

    @classmethod
    def refresh_token(
        cls,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scope: str = GOOGLE_SCOPE,
        token_url: str | None = None,
        timeout: float = 30.0,
    ) -> GoogleTokenSource:
        """An OAuth client's refresh token for the user that sends (the login)."""
        from google.oauth2.credentials import Credentials

        endpoint = token_url or GOOGLE_TOKEN_URL
        credentials = Credentials(
            None,
            refresh_token=refresh_token,
            token_uri=endpoint,
            client_id=client_id,
            client_secret=client_secret,
            scopes=[scope],
        )
        return cls(credentials, endpoint=endpoint, timeout=timeout, secrets=(client_secret, refresh_token))

    def _fetch(self) -> tuple[str, float]:
        import google.auth.exceptions
        import requests
        from google.auth.transport.requests import Request

        timeout = self.timeout

        class _Bounded(Request):  # google-auth sends token requests without a timeout of its own choosing
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                kwargs["timeout"] = timeout
                return super().__call__(*args, **kwargs)

        session = requests.Session()
        try:
            self._credentials.refresh(_Bounded(session))
        except google.auth.exceptions.RefreshError as exc:
            data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            if getattr(exc, "retryable", False):  # a 5xx (or 429) answer, after google-auth's own three tries
                raise self._unavailable(server_error=True) from None
            code = data.get("error") or "invalid_response"
            raise self._refused(code, data.get("error_description"), self._hints.get(code, _GOOGLE_HINT)) from None
        except google.auth.exceptions.TransportError as exc:
            raise self._unavailable(exc) from None
        finally:
            session.close()
        expiry = self._credentials.expiry
        if expiry is None:
            return self._credentials.token, DEFAULT_LIFETIME
        import datetime as dt

        now = dt.datetime.now(dt.timezone.utc)
        if expiry.tzinfo is None:
            now = now.replace(tzinfo=None)
        return self._credentials.token, (expiry - now).total_seconds()


_GOOGLE_HINT = (
    "check client_id, client_secret and refresh_token; a refresh token stops working when the user revokes access, "
    "changes the password, or after 7 days while the OAuth consent screen is in Testing"
)
_GOOGLE_SERVICE_ACCOUNT_HINTS = {
    "invalid_grant": (
        "check that the login is a user of the Workspace domain and that the service account's key is still active"
    ),
    "unauthorized_client": (
        "authorise the service account's client ID for https://mail.google.com/ under domain-wide delegation in "
        "the Admin console"
    ),
    "invalid_client": "check that the service account and its key still exist",
}


# -- any RFC 6749 token endpoint ----------------------------------------------------------------------


class TokenUrlSource(TokenSource):
    """Client-credentials or refresh-token tokens from any RFC 6749 token endpoint, through Authlib.

    The client authenticates with HTTP Basic (``client_secret_basic``, which RFC 6749 requires servers to support).
    A refresh token the endpoint rotates is kept in memory for this process only: the connection is not rewritten.
    """

    name = "token_url"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        refresh_token: str | None = None,
        scope: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(endpoint=token_url, timeout=timeout, secrets=(client_secret, refresh_token))
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._scope = scope

    def _fetch(self) -> tuple[str, float]:
        import requests
        from authlib.integrations.requests_client import OAuth2Session, OAuthError

        auth_method = "client_secret_basic" if self._client_secret else "none"
        with OAuth2Session(
            self._client_id, self._client_secret, scope=self._scope, token_endpoint_auth_method=auth_method
        ) as session:
            try:
                if self._refresh_token:
                    token = session.refresh_token(
                        self.endpoint, refresh_token=self._refresh_token, timeout=self.timeout
                    )
                else:
                    token = session.fetch_token(self.endpoint, grant_type="client_credentials", timeout=self.timeout)
            except OAuthError as exc:
                raise self._refused(
                    exc.error, exc.description, _TOKEN_URL_HINTS.get(exc.error, _TOKEN_URL_HINT)
                ) from None
            except requests.RequestException as exc:
                raise self._unavailable(exc, status=_http_status(exc)) from None
            except ValueError:  # a 2xx/4xx answer that is not a JSON object
                raise self._refused(
                    "invalid_response", None, "check oauth2_token_url: it did not answer as a token endpoint"
                ) from None
        rotated = token.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            _mask(rotated)
            self._secrets += (rotated,)
            self._refresh_token = rotated
        if not token.get("access_token"):
            raise self._refused("invalid_response", None, "check oauth2_token_url: the answer had no access_token")
        return token["access_token"], float(token.get("expires_in") or DEFAULT_LIFETIME)


_TOKEN_URL_HINT = "check client_id, client_secret and oauth2_scope"
_TOKEN_URL_HINTS = {
    "invalid_client": "check client_id and client_secret",
    "invalid_grant": "the refresh token is revoked, expired or already used; issue a new one and update refresh_token",
    "invalid_scope": "check oauth2_scope",
    "unauthorized_client": "check that the client is allowed this grant type at the endpoint",
    "unsupported_grant_type": "check that the endpoint supports this grant type",
}


# -- building sources from a connection ---------------------------------------------------------------

_SOURCES: dict[str, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def token_source_from_extras(
    extra: Mapping[str, Any], *, login: str | None, timeout: float = 30.0
) -> TokenSource | None:
    """The token source a connection's extras ask for with ``oauth2_provider``, or ``None`` if they ask for none.

    Every field the provider needs is checked, and the provider's library imported, before any network use. A
    source already built in this process for the same settings and secrets is returned instead of a new one, so
    hooks on one connection share one cached token.

    :param extra: The connection's extras; the OAuth2 fields are read and checked as ``settings.FIELDS`` declares
        them (``oauth2_provider``, ``tenant_id``, ``client_id``, ``client_secret``, ``refresh_token``,
        ``service_account_json``, ``oauth2_token_url``, ``oauth2_scope``, ``oauth2_authority``).
    :param login: The connection's login: the mailbox that sends (the subject of Google's domain-wide delegation).
    :param timeout: Bounds each token request, in seconds.
    :raises SmtpConfigError: A field is missing or invalid, or the provider's library is not installed.
    """
    provider = FIELDS_BY_KEY["oauth2_provider"].read(extra)
    if provider is None:
        return None
    if provider in _EXTRAS:
        _require_library(provider)
    if not login:
        raise SmtpConfigError(f"oauth2_provider {provider!r} needs the login: the mailbox that sends.")
    values: dict[str, str | None] = {name: FIELDS_BY_KEY[name].read(extra) for name in _FIELDS}
    key = _cache_key(provider, login, timeout, values)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = _BUILDERS[provider](values, login, timeout)
    return source


def clear_token_sources() -> None:
    """Forget every token source (and so every cached token) of this process."""
    with _SOURCES_LOCK:
        _SOURCES.clear()


_FIELDS = (
    "tenant_id",
    "client_id",
    "client_secret",
    "refresh_token",
    "service_account_json",
    "oauth2_token_url",
    "oauth2_scope",
    "oauth2_authority",
)
_SECRET_FIELDS = ("client_secret", "refresh_token", "service_account_json")


def _build_microsoft(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    tenant_id, client_id, secret = (_need(values, "microsoft", n) for n in ("tenant_id", "client_id", "client_secret"))
    return MicrosoftTokenSource(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=secret,
        scope=values["oauth2_scope"] or MICROSOFT_SCOPE,
        authority=_https_url(values, "oauth2_authority") or MICROSOFT_AUTHORITY,
        timeout=timeout,
    )


def _build_google(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    scope = values["oauth2_scope"] or GOOGLE_SCOPE
    token_url = _https_url(values, "oauth2_token_url")
    if values["service_account_json"]:
        if values["service_account_json"].startswith("{"):
            _mask(values["service_account_json"])
        info = _service_account_info(values["service_account_json"])
        return GoogleTokenSource.service_account(info, subject=login, scope=scope, token_url=token_url, timeout=timeout)
    if not (values["client_id"] or values["client_secret"] or values["refresh_token"]):
        raise SmtpConfigError(
            "oauth2_provider 'google' needs service_account_json, or client_id, client_secret and refresh_token."
        )
    client_id, secret, refresh = (_need(values, "google", n) for n in ("client_id", "client_secret", "refresh_token"))
    return GoogleTokenSource.refresh_token(
        client_id=client_id,
        client_secret=secret,
        refresh_token=refresh,
        scope=scope,
        token_url=token_url,
        timeout=timeout,
    )


def _build_token_url(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    url = _https_url(values, "oauth2_token_url")
    if not url:
        raise SmtpConfigError("oauth2_provider 'token_url' needs oauth2_token_url: the token endpoint's https:// URL.")
    client_id = _need(values, "token_url", "client_id")
    if not values["client_secret"] and not values["refresh_token"]:
        raise SmtpConfigError(
            "oauth2_provider 'token_url' needs client_secret, or a refresh_token for a public client."
        )
    return TokenUrlSource(
        token_url=url,
        client_id=client_id,
        client_secret=values["client_secret"],
        refresh_token=values["refresh_token"],
        scope=values["oauth2_scope"],
        timeout=timeout,
    )


_BUILDERS: dict[str, Callable[[dict[str, str | None], str, float], TokenSource]] = {
    "microsoft": _build_microsoft,
    "google": _build_google,
    "token_url": _build_token_url,
}


def _need(values: dict[str, str | None], provider: str, name: str) -> str:
    value = values[name]
    if not value:
        raise SmtpConfigError(f"oauth2_provider {provider!r} needs {name}, which the connection does not set.")
    return value


def _https_url(values: dict[str, str | None], name: str) -> str | None:
    url = values[name]
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise SmtpConfigError(
            f"{name} {url!r} is not an https:// URL; client secrets are only sent to a token endpoint over TLS."
        )
    return url


def _service_account_info(value: str) -> dict[str, Any]:
    """The service-account key: the pasted JSON, or the JSON file a path names."""
    if value.startswith("{"):
        text, where = value, "service_account_json"
    else:
        try:
            with open(value, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise SmtpConfigError(
                f"service_account_json names the file {value!r}, which cannot be read ({exc.strerror or exc}); give "
                "the path of the service account's JSON key on the worker, or paste the JSON itself."
            ) from None
        where = f"The file {value!r} in service_account_json"
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SmtpConfigError(f'{where} is not a service account\'s JSON key (with "type": "service_account").')
    return info


def _require_library(provider: str) -> None:
    module = {"microsoft": "msal", "google": "google.oauth2.service_account"}[provider]
    try:
        __import__(module)
    except ImportError:
        raise SmtpConfigError(
            f"oauth2_provider {provider!r} needs the {_EXTRAS[provider]} library: "
            f"pip install 'airflow-provider-smtpconn[{provider}]'."
        ) from None


def _cache_key(provider: str, login: str, timeout: float, values: dict[str, str | None]) -> str:
    identity = {name: value for name, value in values.items() if name not in _SECRET_FIELDS}
    digests = {
        name: hashlib.sha256(value.encode()).hexdigest() if value else None
        for name, value in values.items()
        if name in _SECRET_FIELDS
    }
    blob = json.dumps([provider, login, timeout, identity, digests], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _mask(*secrets: str | None) -> None:
    """Register secrets with Airflow's masker, where Airflow is there (this module also runs without it)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow 3.0, or no Airflow at all
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
        except ImportError:
            return
    for secret in secrets:
        if secret:
            mask_secret(secret)
