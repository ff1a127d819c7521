"""Microsoft 365 tokens through MSAL (client-credentials grant for Exchange Online)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_smtpconn.oauth.base import (
    DEFAULT_LIFETIME,
    MICROSOFT_AUTHORITY,
    MICROSOFT_SCOPE,
    TokenSource,
    _http_status,
)

log = logging.getLogger(__name__)


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
