"""The connection's OAuth2 fields, in the order the form shows them after the authentication fields."""

from __future__ import annotations

OAUTH2_KEYS = [
    "oauth2_provider",
    "tenant_id",
    "client_id",
    "client_secret",
    "refresh_token",
    "service_account_json",
    "oauth2_token_url",
    "oauth2_scope",
    "oauth2_authority",
]
