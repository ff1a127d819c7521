"""The smoke suite: what a user meets first, on every Airflow minor the package claims.

It runs with the rest of the suite on the current Airflow (3.3, the checkout installed editable), and in
``make test`` once per older minor (the newest patch release of 3.0, 3.1 and 3.2, each pinned by
``constraints-airflow-<minor>.txt``) against the built wheel, installed into that minor's virtual environment
and run from a folder outside the checkout (``outside_checkout.py``). There, ``SMTPCONN_WHEEL_RUN=1`` also
checks that the package imported is the installed wheel and the Airflow is the one pinned. Each test runs
Airflow for real (SQLite metadata DB, ``dag.test()``) against the aiosmtpd server on loopback, and checks what
the server received.
"""

from __future__ import annotations

import datetime as dt
import os
from importlib.metadata import version

import pytest
from support.airflow_helpers import run_dag, task_states, xcom_value

from airflow_provider_smtpconn import get_provider_info

pytestmark = [pytest.mark.smoke, pytest.mark.usefixtures("airflow_db")]

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CONN_FIELDS = get_provider_info()["connection-types"][0]["conn-fields"]
AIRFLOW_MINOR = tuple(int(part) for part in version("apache-airflow").split(".")[:2])


def make_dag(dag_id: str, **kwargs):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


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


wheel_run = pytest.mark.skipif(
    os.environ.get("SMTPCONN_WHEEL_RUN") != "1", reason="only with the built wheel installed (make test)"
)


@wheel_run
def test_the_package_is_the_installed_wheel():
    """Imported from site-packages, installed from a .whl file, not from the checkout nor editable."""
    import json
    import sysconfig
    from importlib.metadata import distribution
    from pathlib import Path

    import airflow_provider_smtpconn

    module = Path(airflow_provider_smtpconn.__file__).resolve()
    assert module.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    assert not module.is_relative_to(Path(os.environ["SMTPCONN_CHECKOUT"], "airflow_provider_smtpconn").resolve())
    origin = json.loads(distribution("airflow-provider-smtpconn").read_text("direct_url.json") or "{}")
    assert origin["url"].endswith(".whl") and "dir_info" not in origin, origin


@wheel_run
def test_this_is_the_pinned_airflow():
    assert version("apache-airflow") == os.environ["SMTPCONN_PINNED_AIRFLOW"]


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
    import warnings

    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    with warnings.catch_warnings():  # Airflow 3.2's own UI service still reads what it deprecates
        warnings.filterwarnings("ignore", message="ProvidersManager.hooks is deprecated")
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
    passed = []  # the exception Airflow put in the callback's context
    with make_dag("smoke_notifier", on_failure_callback=dag_notifier) as dag:

        @task(
            on_failure_callback=[
                SendEmailNotifier(to="oncall@example.org"),
                lambda c: passed.append(c.get("exception")),
            ]
        )
        def breaks():
            raise ValueError("the source table is empty")

        breaks()
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"breaks": ("failed", 1)}
    received = {tuple(r.rcpt_tos): r.message for r in smtp_server.wait_for(2)}
    task_mail = received[("oncall@example.org",)]
    assert "smoke_notifier.breaks" in task_mail["Subject"] and "failed" in task_mail["Subject"]
    text = task_mail.get_body(("plain",)).get_content()
    for expected in ("DAG: smoke_notifier", "Task: breaks", f"Run: {dag_run.run_id}"):
        assert expected in text
    # A worker always passes the exception; dag.test() does only from Airflow 3.3 on.
    (exception,) = passed
    assert exception is not None or AIRFLOW_MINOR < (3, 3)
    assert ("the source table is empty" in text) == (exception is not None)
    assert received[("owner@example.org",)]["Subject"] == "smoke_notifier failed"


@pytest.mark.skipif(
    AIRFLOW_MINOR == (3, 2),
    reason="Airflow 3.2 sends email_on_failure through the official SmtpNotifier, ignoring [email] email_backend "
    "(apache/airflow#65012; restored in 3.3)",
)
def test_email_backend_sends_email_on_failure(smtp_server, smtp_conn, monkeypatch, tmp_path):
    from airflow.sdk import task
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    smtp_conn(smtp_server, conn_id="alerts")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_smtpconn.email_backend.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "alerts")
    if not hasattr(RuntimeTaskInstance, "mark_success_url"):  # Airflow 3.0: its default template names it and fails
        (tmp_path / "alert.html").write_text("Exception:<br>{{ exception_html }}")  # (apache/airflow#53135)
        monkeypatch.setenv("AIRFLOW__EMAIL__HTML_CONTENT_TEMPLATE", str(tmp_path / "alert.html"))
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


def test_convert_connection_reads_an_official_connection_from_the_db():
    """The installed ``smtpconn`` script, from a shell: a connection made in the UI lives in the metadata DB."""
    import json
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(
            Connection(
                conn_id="smoke_smtp",
                conn_type="smtp",
                host="smtp.example.com",
                login="me@example.com",
                password="official-secret-pw",
                extra=json.dumps({"disable_ssl": True, "from_email": "me@example.com"}),
            )
        )
    script = str(Path(sys.executable).with_name("smtpconn"))
    env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": ""}  # the row is stored as this process wrote it
    found, missing = (
        subprocess.run([script, "convert-connection", conn_id], env=env, capture_output=True, text=True, timeout=120)
        for conn_id in ("smoke_smtp", "no_such_connection")
    )

    assert found.returncode == 0, found.stderr
    assert "official-secret-pw" not in found.stdout
    (line,) = [line for line in found.stdout.splitlines() if line.startswith("AIRFLOW_CONN_SMOKE_SMTP=")]
    value = json.loads(shlex.split(line.partition("=")[2])[0])
    assert (value["conn_type"], value["port"], value["password"]) == ("smtpconn", 25, "***")
    assert value["extra"] == {"from_email": "me@example.com", "tls_mode": "starttls", "timeout": 30, "retry_limit": 5}
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "Airflow has no connection 'no_such_connection'" in missing.stderr
