"""The ``smtpconn`` connection type as Airflow's UI shows it, derived from the declarations in ``settings.py``.

Airflow 3 reads the form from the provider info (``conn-fields`` and ``ui-field-behaviour``) without importing
the hook, so this module imports nothing heavier than the field declarations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.connection.fields import FIELDS

if TYPE_CHECKING:
    from airflow_provider_smtpconn.connection.declaration import ConnectionField

CONN_TYPE = "smtpconn"
HOOK_CLASS = "airflow_provider_smtpconn.hooks.smtp.SmtpConnHook"
HOOK_NAME = "SMTP Connector"

#: extra key -> its declaration, in the order the form shows them.
EXTRA_FIELDS: dict[str, ConnectionField] = {f.key: f for f in FIELDS}


def connection_type() -> dict[str, Any]:
    """The ``connection-types`` entry of the provider info."""
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": HOOK_CLASS,
        "hook-name": HOOK_NAME,
        "conn-fields": {f.key: f.form_field() for f in FIELDS},
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"login": "Username"},
            # Airflow's UI shows placeholders for the standard fields only; extras carry hints in descriptions.
            "placeholders": {
                "host": "smtp.example.com",
                "port": "587 (STARTTLS), 465 (implicit TLS)",
                "login": "reports@example.com",
                "password": "password, or an OAuth2 access token for xoauth2",
            },
        },
    }
