"""airflow-provider-smtpconn: an SMTP connection type, hook, operator and notifier for Apache Airflow 3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.inline_images import inline_image
    from airflow_provider_smtpconn.message.tables import email_table

__version__ = "0.1.0"
__all__ = ["email_table", "get_provider_info", "inline_image"]

# The report helpers, imported on first use: importing the package (as Airflow's providers manager does) stays cheap.
_LAZY = {
    "email_table": "airflow_provider_smtpconn.message.tables",
    "inline_image": "airflow_provider_smtpconn.message.inline_images",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_smtpconn.connection.form import connection_type

    return {
        "package-name": "airflow-provider-smtpconn",
        "name": "SMTP Connector",
        "description": "Send email from Airflow over SMTP: verified TLS, OAuth2, at-most-once delivery, "
        "attachments from XComs.",
        "versions": [__version__],
        "connection-types": [connection_type()],
        "notifications": ["airflow_provider_smtpconn.notifications.smtp.SendEmailNotifier"],
        "email-backends": ["airflow_provider_smtpconn.email_backend.send_email"],
    }
