"""airflow-provider-smtpconn: an SMTP connection type, hook, operator and notifier for Apache Airflow 3."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


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
