"""The smoke suite: what a user meets first, on every Airflow version the package claims.

It runs twice in ``make test``: with the rest of the suite on the current Airflow (3.3), and alone on the lowest
Airflow that ``pyproject.toml`` declares, in a second virtual environment (``make test-floor``). There,
``SMTPCONN_FLOOR_RUN=1`` also checks that the Airflow installed is exactly that declared floor, so the claim and
the proof cannot drift apart. Each test runs Airflow for real (SQLite metadata DB, ``dag.test()``) against the
aiosmtpd server on loopback, and checks what the server received.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from importlib.metadata import requires, version

import pytest
from support.airflow_helpers import run_dag, task_states, xcom_value

from airflow_provider_smtpconn import get_provider_info

pytestmark = [pytest.mark.smoke, pytest.mark.usefixtures("airflow_db")]

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CONN_FIELDS = get_provider_info()["connection-types"][0]["conn-fields"]


def make_dag(dag_id: str, **kwargs):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


def declared_floor() -> str:
    """The version in ``apache-airflow>=X`` of the installed package's requirements."""
    (floor,) = [m.group(1) for r in requires("airflow-provider-smtpconn") or [] if (m := _FLOOR.match(r))]
    return floor


_FLOOR = re.compile(r"apache-airflow\s*>=\s*([0-9.]+)\s*$")


@pytest.fixture
def fresh_providers():
    """A ProvidersManager that discovers everything anew (its form cache depends on what was imported first)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ProvidersManager

    ProvidersManager()._cleanup()
    HookMetaService.hook_meta_data.cache_clear()
    yield
    ProvidersManager()._cleanup()
    HookMetaService.hook_meta_data.cache_clear()


@pytest.mark.skipif(os.environ.get("SMTPCONN_FLOOR_RUN") != "1", reason="only in the floor environment")
def test_this_is_the_declared_floor():
    from packaging.version import Version

    assert Version(version("apache-airflow")) == Version(declared_floor())


def test_providers_manager_discovers_the_connection_type(fresh_providers):
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["airflow-provider-smtpconn"].version == version("airflow-provider-smtpconn")
    try:  # Airflow 3.2+: hooks are the task SDK's (ProvidersManager.hooks is deprecated there)
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook = ProvidersManagerTaskRuntime().hooks["smtpconn"]
    except ImportError:  # Airflow 3.0 and 3.1
        hook = manager.hooks["smtpconn"]
    assert hook.hook_class_name == "airflow_provider_smtpconn.hooks.smtp.SmtpConnHook"
    assert (hook.hook_name, hook.connection_id_attribute_name) == ("SMTP Connector", "smtp_conn_id")
    assert hook.connection_testable
    widgets = manager.connection_form_widgets
    assert {name for name in widgets if name.startswith("extra__smtpconn__")} == {
        f"extra__smtpconn__{field}" for field in CONN_FIELDS
    }
    assert widgets["extra__smtpconn__access_token"].is_sensitive
    assert not widgets["extra__smtpconn__from_email"].is_sensitive
    behaviour = manager.field_behaviours["smtpconn"]
    assert behaviour["hidden_fields"] == ["schema"]
    assert behaviour["relabeling"] == {"login": "Username"}


def test_the_ui_shows_the_connection_form(fresh_providers):
    """What ``GET /ui/connections/hook_meta`` serves: every conn-field with its label, choices and default."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = {item.connection_type: item for item in HookMetaService.hook_meta_data()}["smtpconn"]
    assert meta.hook_name == "SMTP Connector"
    fields = meta.extra_fields
    assert set(fields) == set(CONN_FIELDS)
    for name, spec in CONN_FIELDS.items():
        shown, declared = fields[name], spec["schema"]
        assert shown["schema"]["title"] == spec["label"], name
        assert shown["description"] == spec["description"], name
        assert shown["schema"].get("enum") == declared.get("enum"), name
        if declared.get("format") == "password":  # a secret field (Airflow before 3.2 has no multiline format)
            assert shown["schema"]["format"] == "password", name
        if "number" in declared["type"]:  # Airflow before 3.2 only has text boxes for numbers
            assert float(shown["value"]) == declared["default"], name
        else:
            assert shown["value"] == declared.get("default"), name
    assert fields["access_token"]["schema"]["format"] == "password"
    assert meta.standard_fields.login.title == "Username"
    assert meta.standard_fields.host.placeholder == "smtp.example.com"
    assert meta.standard_fields.url_schema.hidden is True


def test_operator_sends_in_dag_test(smtp_server, smtp_conn, tmp_path):
    from airflow.sdk import ObjectStoragePath, task

    from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

    smtp_conn(smtp_server)
    (tmp_path / "stored.csv").write_bytes(b"a,b\n1,2\n")
    with make_dag("smoke_operator") as dag:

        @task
        def rows():
            return [{"id": 1, "name": "Zoë"}]

        SendEmailOperator(
            task_id="send",
            to="team@example.org",
            cc=["lead@example.org"],
            subject="Report {{ run_id }}",
            text="Rows for {{ dag.dag_id }}",
            attachments=[
                {"filename": "rows.csv", "content": rows()},
                ObjectStoragePath(f"file://{tmp_path / 'stored.csv'}"),
            ],
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("success", 1)
    (received,) = smtp_server.messages
    assert received.mail_from == "airflow@example.org"
    assert sorted(received.rcpt_tos) == ["lead@example.org", "team@example.org"]
    msg = received.message
    assert msg["Subject"] == f"Report {dag_run.run_id}"
    assert msg.get_body(("plain",)).get_content().strip() == "Rows for smoke_operator"
    files = {part.get_filename(): part.get_payload(decode=True) for part in msg.iter_attachments()}
    assert files == {"rows.csv": b"id,name\r\n1,Zo\xc3\xab\r\n", "stored.csv": b"a,b\n1,2\n"}
    result = xcom_value(dag_run, "send")
    assert result["message_id"] == received.message_id
    assert sorted(result["accepted"]) == sorted(received.rcpt_tos)


def test_notifier_as_task_and_dag_callbacks(smtp_server, smtp_conn):
    from airflow.sdk import task

    from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

    smtp_conn(smtp_server)
    dag_notifier = SendEmailNotifier(to="owner@example.org", subject="{{ dag.dag_id }} failed")
    with make_dag("smoke_notifier", on_failure_callback=dag_notifier) as dag:

        @task(on_failure_callback=SendEmailNotifier(to="oncall@example.org"))
        def breaks():
            raise ValueError("the source table is empty")

        breaks()
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"breaks": ("failed", 1)}
    received = {tuple(r.rcpt_tos): r.message for r in smtp_server.wait_for(2)}
    task_mail = received[("oncall@example.org",)]
    assert "smoke_notifier.breaks" in task_mail["Subject"] and "failed" in task_mail["Subject"]
    text = task_mail.get_body(("plain",)).get_content()
    for expected in ("DAG: smoke_notifier", "Task: breaks", f"Run: {dag_run.run_id}", "the source table is empty"):
        assert expected in text
    assert received[("owner@example.org",)]["Subject"] == "smoke_notifier failed"


def test_email_backend_sends_email_on_failure(smtp_server, smtp_conn, monkeypatch):
    from airflow.sdk import task

    smtp_conn(smtp_server, conn_id="alerts")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_smtpconn.email_backend.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "alerts")
    with make_dag("smoke_email_backend") as dag:

        @task(email=["ops@example.org"], email_on_failure=True, email_on_retry=False)
        def breaks():
            raise RuntimeError("backend boom")

        breaks()
    run_dag(dag)

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.mail_from == "airflow@example.org"  # the connection's from_email, not "airflow@airflow"
    assert "backend boom" in received.message.get_body(("html",)).get_content()
