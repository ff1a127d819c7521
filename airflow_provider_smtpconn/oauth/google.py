"""Google Workspace tokens through google-auth (service account with domain-wide delegation, or a refresh token)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_smtpconn.exceptions import SmtpConfigError
from airflow_provider_smtpconn.oauth.base import DEFAULT_LIFETIME, GOOGLE_SCOPE, GOOGLE_TOKEN_URL, TokenSource, mask

log = logging.getLogger(__name__)


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
        mask(*secrets)
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
