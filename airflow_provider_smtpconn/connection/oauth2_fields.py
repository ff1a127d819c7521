"""The fields of an OAuth2 token source, declared once (``oauth/sources.py`` reads them; ``fields.py`` places them in
the form's order).
"""

from __future__ import annotations

from airflow_provider_smtpconn.connection.declaration import ConnectionField, nullable
from airflow_provider_smtpconn.connection.parsers import choice, secret, text

#: Where ``oauth2_provider`` fetches XOAUTH2 tokens (see ``oauth/``).
OAUTH2_PROVIDERS = ("microsoft", "google", "token_url")

OAUTH2_GROUP: tuple[ConnectionField, ...] = (
    ConnectionField(
        "oauth2_provider",
        "OAuth2 token source",
        "Fetch and renew XOAUTH2 tokens instead of pasting one: Microsoft 365 (an Entra app with SMTP.SendAsApp), "
        "Google (a service account with domain-wide delegation, or a refresh token) or any OAuth2 token URL. "
        "Implies Authentication xoauth2; the Username is the mailbox that sends.",
        nullable(
            "string",
            enum=list(OAUTH2_PROVIDERS),
            values_display={
                "microsoft": "Microsoft 365 (Entra ID)",
                "google": "Google Workspace / Gmail",
                "token_url": "Any OAuth2 token URL",
            },
        ),
        choice(OAUTH2_PROVIDERS),
        group="oauth2",
    ),
    ConnectionField(
        "tenant_id",
        "OAuth2 tenant ID (Microsoft)",
        "For OAuth2 token source Microsoft 365: the Directory (tenant) ID of the app registration, or the "
        "tenant's verified domain.",
        nullable("string"),
        text,
        group="oauth2",
    ),
    ConnectionField(
        "client_id",
        "OAuth2 client ID",
        "The app registration's Application (client) ID (Microsoft 365), the OAuth client ID (Google with a "
        "refresh token), or the client ID at the OAuth2 token URL.",
        nullable("string"),
        text,
        group="oauth2",
    ),
    ConnectionField(
        "client_secret",
        "OAuth2 client secret",
        "The client secret's value (Microsoft 365, OAuth2 token URL) or the OAuth client's secret (Google with a "
        "refresh token). Redacted.",
        nullable("string", format="password"),
        secret,
        group="oauth2",
    ),
    ConnectionField(
        "refresh_token",
        "OAuth2 refresh token",
        "For Google without a service account, or an OAuth2 token URL: the refresh-token grant is used instead of "
        "client credentials. Redacted.",
        nullable("string", format="password"),
        secret,
        group="oauth2",
    ),
    ConnectionField(
        "service_account_json",
        "Google service-account key",
        "The service account's JSON key, pasted, or its path on the workers; it needs domain-wide delegation for "
        "https://mail.google.com/ and acts as the Username. Redacted.",
        nullable("string", format="password"),
        secret,
        group="oauth2",
    ),
    ConnectionField(
        "oauth2_token_url",
        "OAuth2 token URL",
        "For Any OAuth2 token URL: the https:// token endpoint. For Google: replaces "
        "https://oauth2.googleapis.com/token.",
        nullable("string"),
        text,
        group="oauth2",
    ),
    ConnectionField(
        "oauth2_scope",
        "OAuth2 scope",
        "Space-separated scopes. Empty: https://outlook.office365.com/.default (Microsoft 365), "
        "https://mail.google.com/ (Google), none (OAuth2 token URL).",
        nullable("string"),
        text,
        group="oauth2",
    ),
    ConnectionField(
        "oauth2_authority",
        "Microsoft authority",
        "For Microsoft 365 in a national cloud: the Entra sign-in host, e.g. https://login.microsoftonline.us. "
        "Empty: https://login.microsoftonline.com.",
        nullable("string"),
        text,
        group="oauth2",
    ),
)
