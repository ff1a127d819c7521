"""The ``smtpconn`` connection type as Airflow's UI shows it: the extra fields, labels, defaults, placeholders.

Airflow 3 reads the form from the provider info (``conn-fields`` and ``ui-field-behaviour``) without importing
the hook, so this module is plain data and imports nothing.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "smtpconn"
HOOK_CLASS = "airflow_provider_smtpconn.hooks.smtp.SmtpConnHook"

#: name -> (label, JSON schema, description). The defaults here are the defaults the hook applies.
EXTRA_FIELDS: dict[str, tuple[str, dict[str, Any], str]] = {
    "tls_mode": (
        "TLS mode",
        {"type": ["string", "null"], "enum": ["starttls", "implicit", "none"]},
        "starttls (upgrade a plain connection, port 587), implicit (TLS from the first byte, port 465) or "
        "none. Empty: implicit on port 465, starttls on any other port.",
    ),
    "ignore_self_signed": (
        "Accept self-signed certificates",
        {"type": ["boolean", "null"], "default": False},
        "Keep encryption but skip the certificate chain and host name checks. Prefer a CA bundle.",
    ),
    "ca_bundle": (
        "Private CA bundle",
        {"type": ["string", "null"], "format": "multiline"},
        "A path to a PEM file, or the PEM text, of a private CA to trust besides the system store.",
    ),
    "from_email": (
        "Default sender",
        {"type": ["string", "null"]},
        "Used when a task gives no from_email; 'Name <address>' is allowed. Empty: the login.",
    ),
    "auth_type": (
        "Authentication",
        {"type": ["string", "null"], "enum": ["basic", "xoauth2"], "default": "basic"},
        "basic: the password with PLAIN, LOGIN or CRAM-MD5. xoauth2: an OAuth2 access token in the "
        "password or in access_token (Gmail, Microsoft 365).",
    ),
    "access_token": (
        "OAuth2 access token",
        {"type": ["string", "null"], "format": "password"},
        "For auth_type xoauth2, if not given as the password.",
    ),
    # OAuth2 token sources: a token fetched and renewed for each send instead of a pasted one.
    "oauth2_provider": (
        "OAuth2: token source",
        {"type": ["string", "null"], "enum": ["microsoft", "google", "token_url"]},
        "Fetch XOAUTH2 tokens instead of pasting one: microsoft (Entra app, client credentials), google (service "
        "account with domain-wide delegation, or a refresh token) or token_url (any OAuth2 token endpoint). Implies "
        "auth_type xoauth2; the login is the mailbox that sends.",
    ),
    "tenant_id": (
        "OAuth2: tenant ID (microsoft)",
        {"type": ["string", "null"]},
        "The Directory (tenant) ID of the Entra app registration, or the tenant's verified domain.",
    ),
    "client_id": (
        "OAuth2: client ID",
        {"type": ["string", "null"]},
        "The Application (client) ID (microsoft), OAuth client ID (google with a refresh token) or client ID "
        "(token_url).",
    ),
    "client_secret": (
        "OAuth2: client secret",
        {"type": ["string", "null"], "format": "password"},
        "The client secret's value (microsoft, token_url) or the OAuth client's secret (google with a refresh token).",
    ),
    "refresh_token": (
        "OAuth2: refresh token",
        {"type": ["string", "null"], "format": "password"},
        "google without a service account, or token_url: the refresh-token grant is used instead of client "
        "credentials.",
    ),
    "service_account_json": (
        "OAuth2: service-account key (google)",
        {"type": ["string", "null"], "format": "password"},
        "The service account's JSON key, pasted, or its path on the workers; it needs domain-wide delegation for "
        "https://mail.google.com/ and acts as the login.",
    ),
    "oauth2_token_url": (
        "OAuth2: token endpoint URL",
        {"type": ["string", "null"]},
        "token_url: the https:// token endpoint. google: overrides the token URI (https://oauth2.googleapis.com/token).",
    ),
    "oauth2_scope": (
        "OAuth2: scope",
        {"type": ["string", "null"]},
        "Space-separated scopes. Empty: https://outlook.office365.com/.default (microsoft), https://mail.google.com/ "
        "(google), none (token_url).",
    ),
    "oauth2_authority": (
        "OAuth2: authority (microsoft)",
        {"type": ["string", "null"]},
        "The Entra login host. Empty: https://login.microsoftonline.com; e.g. https://login.microsoftonline.us for "
        "US Government clouds.",
    ),
    "timeout": (
        "Timeout (seconds)",
        {"type": ["number", "null"], "default": 30, "minimum": 0},
        "Bounds the connect, the greeting, the TLS handshake and each SMTP command.",
    ),
    "retry_limit": (
        "Retries",
        {"type": ["integer", "null"], "default": 3, "minimum": 0},
        "Retries of transient failures (connection lost, 4xx replies) before the body is sent. A message "
        "whose body was sent is never resent.",
    ),
    "max_attachment_mb": (
        "Largest attachment (MB)",
        {"type": ["number", "null"], "default": 10, "minimum": 0},
        "The largest single attachment a task may send through this connection.",
    ),
    "local_hostname": (
        "EHLO name",
        {"type": ["string", "null"]},
        "The name this client gives in EHLO. Empty: this machine's fully qualified name.",
    ),
    "allow_plaintext_auth": (
        "Allow password without TLS",
        {"type": ["boolean", "null"], "default": False},
        "With TLS mode none, send credentials to a host other than localhost. Only for a trusted relay.",
    ),
}


def connection_type() -> dict[str, Any]:
    """The ``connection-types`` entry of the provider info."""
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": HOOK_CLASS,
        "hook-name": "SMTP Connector",
        "conn-fields": {
            name: {"label": label, "schema": schema, "description": description}
            for name, (label, schema, description) in EXTRA_FIELDS.items()
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"login": "Username"},
            # Airflow's UI shows placeholders for the standard fields only; extras carry hints in descriptions.
            "placeholders": {
                "host": "smtp.example.com",
                "port": "587 (starttls), 465 (implicit)",
                "login": "reports@example.com",
                "password": "password, or an OAuth2 access token for xoauth2",
            },
        },
    }
