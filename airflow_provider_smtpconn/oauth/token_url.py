"""Tokens from any RFC 6749 token endpoint through Authlib (client credentials or refresh token)."""

from __future__ import annotations

import logging

from airflow_provider_smtpconn.oauth.base import DEFAULT_LIFETIME, TokenSource, _http_status, mask

log = logging.getLogger(__name__)


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
                hint = _TOKEN_URL_HINTS.get(exc.error, _TOKEN_URL_HINT)
                if exc.error == "invalid_client" and not self._client_secret:
                    hint = "check client_id, and whether the endpoint lets a public client (no secret) use this grant"
                raise self._refused(exc.error, exc.description, hint) from None
            except requests.RequestException as exc:
                raise self._unavailable(exc, status=_http_status(exc)) from None
            except ValueError:  # a 2xx/4xx answer that is not a JSON object
                raise self._refused(
                    "invalid_response", None, "check oauth2_token_url: it did not answer as a token endpoint"
                ) from None
        rotated = token.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            mask(rotated)
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
