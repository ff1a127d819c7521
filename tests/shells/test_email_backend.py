"""The ``[email] email_backend``: Airflow's ``email_on_failure`` sends through the provider's connection, through
``dag.test()``."""

from __future__ import annotations

import pytest
from support.airflow_helpers import make_dag, run_dag

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_email_on_failure_goes_through_the_email_backend(smtp_server, smtp_conn, monkeypatch):
    from airflow.sdk import task

    smtp_conn(smtp_server, conn_id="alerts")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_smtpconn.email_backend.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "alerts")
    with make_dag("email_backend_failure") as dag:

        @task(email=["ops@example.org"], email_on_failure=True, email_on_retry=False)
        def breaks():
            raise RuntimeError("backend boom")

        breaks()
    run_dag(dag)

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.mail_from == "airflow@example.org"  # the connection's from_email, not "airflow@airflow"
    assert "backend boom" in received.message.get_body(("html",)).get_content()
