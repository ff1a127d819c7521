"""What mailbox providers and relays check, through the Airflow shells against the loopback server: the Message-ID
at the From domain (or the configured one) on every path (operator, mail merge, notifier, email backend, CLI, the
hook's door for a standard library message); a DKIM signature from the connection's fields that dkimpy's verifier
accepts, with a DNS answer the test supplies; a one-click unsubscribe link per merge row; 150 recipients through a
relay that takes 100 per message; DSN with each merge row's key as ENVID."""

from __future__ import annotations

import socket

import dkim
import pytest
from support.airflow_helpers import make_dag, run_dag, task_states, xcom_value
from support.dkim_keys import make_key
from support.fault_server import FaultServer
from support.sessions import stdlib_message

from airflow_provider_smtpconn.cli import main
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def key():
    return make_key()


@pytest.fixture(autouse=True)
def journal_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", str(tmp_path / "journal"))


def every_path_dag(dag_id: str):
    """One DAG that sends through the operator, a two-row mail merge, a success notifier, and the email backend
    (a task that fails with ``email_on_failure``)."""
    from airflow.sdk import task

    with make_dag(dag_id) as dag:
        SendEmailOperator(
            task_id="operator", to="op@example.org", subject="op", text="x",
            on_success_callback=SendEmailNotifier(to="notifier@example.org", subject="notifier", text="x"),
        )  # fmt: skip
        MailMergeOperator(
            task_id="merge", rows=[{"email": "row1@example.org"}, {"email": "row2@example.org"}],
            to="{{ row.email }}", subject="merge", text="x",
        )  # fmt: skip

        @task(email=["backend@example.org"], email_on_failure=True, email_on_retry=False)
        def breaks():
            raise RuntimeError("for the email backend")

        breaks()
    return dag


def by_recipient(server) -> dict[str, object]:
    return {m.rcpt_tos[0]: m for m in server.messages}


def test_the_message_id_is_at_the_configured_domain_on_every_path(smtp_server, smtp_conn, monkeypatch):
    smtp_conn(smtp_server, message_id_domain="mail.example.net")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_smtpconn.email_backend.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "smtpconn_default")
    dag_run = run_dag(every_path_dag("message_id_every_path"))
    assert main(["send-test", "smtpconn_default", "--to", "cli@example.org"]) == 0
    SmtpConnHook().send(stdlib_message("hook@example.org"))

    assert task_states(dag_run)["operator"] == ("success", 1)
    received = by_recipient(smtp_server)
    paths = ["op@example.org", "notifier@example.org", "row1@example.org", "row2@example.org",
             "backend@example.org", "cli@example.org", "hook@example.org"]  # fmt: skip
    assert sorted(received) == sorted(paths)
    for recipient in paths:
        assert received[recipient].message_id.endswith("@mail.example.net>"), recipient


def test_without_a_configured_domain_the_message_id_is_at_the_from_domain(smtp_server, smtp_conn):
    smtp_conn(smtp_server, from_email="Reports <reports@b\u00fccher.example>")
    assert main(["send-test", "smtpconn_default", "--to", "cli@example.org"]) == 0
    message = stdlib_message("hook@example.org")
    message.replace_header("From", "reports@example.org")
    SmtpConnHook().send(message)

    cli, hook = (m.message_id for m in smtp_server.messages)
    assert cli.endswith("@xn--bcher-kva.example>")  # the From domain, in ASCII (IDNA)
    assert hook.endswith("@example.org>")
    for message_id in (cli, hook):
        assert socket.gethostname() not in message_id and "localhost" not in message_id


def dkim_fields(key, private_key: str | None = None) -> dict[str, str]:
    return {"dkim_domain": "example.org", "dkim_selector": "s1", "dkim_private_key": private_key or key.pkcs8}


def test_a_connection_with_dkim_fields_signs_the_operator_s_and_the_hook_s_messages(smtp_server, smtp_conn, key):
    smtp_conn(smtp_server, **dkim_fields(key))
    with make_dag("dkim_operator") as dag:
        SendEmailOperator(
            task_id="send", to="a@example.org", bcc="hidden@example.org", subject="Signed \u2014 \u00fc",
            text="Hello\n", list_unsubscribe=["https://example.org/u?id=1", "mailto:unsubscribe@example.org"],
        )  # fmt: skip
    dag_run = run_dag(dag)
    SmtpConnHook().send(stdlib_message("hook@example.org"))

    assert task_states(dag_run) == {"send": ("success", 1)}
    operator, hook = smtp_server.messages
    for received in (operator, hook):
        assert dkim.verify(received.data, dnsfunc=key.dns())
    signed = operator.message["DKIM-Signature"]
    assert "list-unsubscribe : list-unsubscribe-post" in " ".join(str(signed).split())  # RFC 8058 section 4


def test_a_key_pasted_into_the_one_line_form_field_still_signs(smtp_server, smtp_conn, key):
    smtp_conn(smtp_server, **dkim_fields(key, key.pkcs1.replace("\n", "")))
    SmtpConnHook().send(stdlib_message("a@example.org"))
    (received,) = smtp_server.messages
    assert dkim.verify(received.data, dnsfunc=key.dns())


def test_the_test_action_fails_in_one_sentence_on_a_malformed_key_without_connecting(smtp_server, smtp_conn, key):
    broken = key.pkcs8.replace("MII", "MIX", 1)
    smtp_conn(smtp_server, **dkim_fields(key, broken))
    ok, text = SmtpConnHook().test_connection()
    assert not ok and text.startswith("dkim_private_key") and text.count(". ") == 0
    assert broken.splitlines()[1] not in text
    assert smtp_server.connections == 0


def test_the_dkim_key_is_registered_with_the_masker_line_by_line(smtp_server, smtp_conn, key, monkeypatch, tmp_path):
    from airflow_provider_smtpconn.oauth import base

    masked: list[str] = []
    monkeypatch.setattr(base, "mask", lambda *secrets: masked.extend(s for s in secrets if s))
    path = tmp_path / "dkim.pem"
    path.write_text(key.pkcs8)
    smtp_conn(smtp_server, **dkim_fields(key, str(path)))
    assert SmtpConnHook().dkim_signer is not None
    body_lines = key.pkcs8.splitlines()[1:-1]
    assert key.pkcs8.strip() in masked and all(line in masked for line in body_lines if len(line) > 16)


def test_a_mail_merge_gives_each_row_its_own_one_click_link(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    rows = [{"id": 7, "email": "ann@example.org"}, {"id": 8, "email": "bob@example.org"}]
    with make_dag("merge_unsubscribe") as dag:
        MailMergeOperator(
            task_id="merge", rows=rows, row_key="id", to="{{ row.email }}", subject="News", text="x",
            list_unsubscribe=["https://example.org/u?id={{ row.id }}", "mailto:leave@example.org?subject={{ row.id }}"],
        )  # fmt: skip
    assert task_states(run_dag(dag)) == {"merge": ("success", 1)}

    received = by_recipient(smtp_server)
    for row in rows:
        message = received[row["email"]].message
        assert message["List-Unsubscribe"] == (
            f"<https://example.org/u?id={row['id']}>, <mailto:leave@example.org?subject={row['id']}>"
        )
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_operator_sends_150_recipients_through_a_relay_capped_at_100(smtp_conn):
    to = [f"to{i:03}@example.org" for i in range(100)]
    bcc = [f"bcc{i:03}@example.org" for i in range(50)]
    with FaultServer(max_recipients=100) as server:
        smtp_conn(server)
        with make_dag("recipient_limit") as dag:
            SendEmailOperator(task_id="send", to=to, bcc=bcc, subject="Everyone", text="x")
        dag_run = run_dag(dag)

        assert task_states(dag_run) == {"send": ("success", 1)}
        result = xcom_value(dag_run, "send")
        assert sorted(result["accepted"]) == sorted(to + bcc) and result["refused"] == {}
        assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(to + bcc)
        assert {m.message_id for m in server.messages} == {result["message_id"]}
        assert not any(b"bcc0" in m.data or "Bcc" in m.message for m in server.messages)


def test_a_mail_merge_asks_for_dsn_with_each_row_s_key_as_envid(smtp_conn):
    rows = [{"id": "inv-7", "email": "ann@example.org"}, {"id": "inv 8", "email": "bob@example.org"}]
    with FaultServer(dsn=True) as server:
        smtp_conn(server)
        with make_dag("merge_dsn") as dag:
            MailMergeOperator(
                task_id="merge", rows=rows, row_key="id", to="{{ row.email }}", subject="Invoice", text="x",
                dsn={"notify": "failure", "ret": "headers"},
            )  # fmt: skip
        assert task_states(run_dag(dag)) == {"merge": ("success", 1)}

        received = by_recipient(server)
        assert received["ann@example.org"].dsn["MAIL"] == ["RET=HDRS", "ENVID=inv-7"]
        assert received["bob@example.org"].dsn["MAIL"] == ["RET=HDRS", "ENVID=inv+208"]
        assert received["bob@example.org"].dsn["bob@example.org"] == ["NOTIFY=FAILURE"]
