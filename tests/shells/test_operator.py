"""SendEmailOperator through ``dag.test()`` against the aiosmtpd server; what arrived is parsed and checked."""

from __future__ import annotations

import base64
import datetime as dt
import email
import json
import re
from email.policy import default as default_policy

import pytest
from support.airflow_helpers import make_dag, run_dag, task_states, xcom_value

from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

pytestmark = pytest.mark.usefixtures("airflow_db")


def attachments_of(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def text_of(message, subtype="plain") -> str:
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def test_recipients_reply_to_importance_and_both_bodies(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with make_dag("op_basics") as dag:
        SendEmailOperator(
            task_id="send",
            to='"Doe, Jane" <jane@example.org>; bob@example.org',
            cc=["carol@example.org", "bob@example.org"],
            bcc="hidden@example.org",
            reply_to="replies@example.org",
            subject="Run {{ run_id }}",
            text="Plain {{ dag.dag_id }}",
            html="<p>HTML {{ dag.dag_id }}</p>",
            importance="High",
            headers={"X-Report": "{{ task.task_id }}"},
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"send": ("success", 1)}
    (received,) = smtp_server.messages
    msg = received.message
    assert sorted(received.rcpt_tos) == sorted(
        ["jane@example.org", "bob@example.org", "carol@example.org", "hidden@example.org"]
    )
    assert received.mail_from == "airflow@example.org"
    assert msg["To"].addresses[0].display_name == "Doe, Jane"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["carol@example.org", "bob@example.org"]
    assert "Bcc" not in msg
    assert b"hidden@example.org" not in received.data
    assert msg["Reply-To"] == "replies@example.org"
    assert msg["Subject"] == f"Run {dag_run.run_id}"
    assert (msg["Importance"], msg["X-Priority"]) == ("high", "1 (Highest)")
    assert msg["X-Report"] == "send"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert text_of(msg) == "Plain op_basics\n"
    assert "HTML op_basics" in text_of(msg, "html")
    result = xcom_value(dag_run, "send")
    assert result["message_id"] == received.message_id
    assert result["size_bytes"] == len(received.data)
    assert result["refused"] == {}


def test_attachments_from_xcom_taskflow_output_and_jinja(smtp_server, smtp_conn, tmp_path):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    report = tmp_path / "report.html"
    report.write_text("<h1>{{ not a template }}</h1>")
    with make_dag("op_xcom", render_template_as_native_obj=True) as dag:

        @task
        def rows():
            return [{"id": 1, "name": "Zoë"}, {"id": 2, "name": "Doe, J"}]

        @task
        def logo_b64():
            return base64.b64encode(b"\x89PNG fake image").decode()

        @task
        def files():
            return {"notes.txt": "some notes", "data.json": {"k": [1, 2]}}

        rows_out, logo_out, files_out = rows(), logo_b64(), files()
        SendEmailOperator(
            task_id="send",
            to="a@example.org",
            subject="Grüße {{ ds }}",
            html='<p>Report</p><img src="cid:logo">',
            attachments=[
                {"filename": "rows.csv", "content": rows_out},
                {"filename": "logo.png", "content": logo_out, "encoding": "base64", "content_id": "logo"},
                files_out,
                {"filename": "n.txt", "content": "{{ 1 + 1 }}"},
                str(report),
                {"filename": "Übersicht ä.json", "content": "{{ ti.xcom_pull(task_ids='rows') }}"},
            ],
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("success", 1)
    (received,) = smtp_server.messages
    msg = received.message
    assert msg["Subject"].startswith("Grüße ")
    files_received = attachments_of(msg)
    assert files_received["rows.csv"] == b'id,name\r\n1,Zo\xc3\xab\r\n2,"Doe, J"\r\n'
    assert files_received["notes.txt"] == b"some notes"
    assert json.loads(files_received["data.json"]) == {"k": [1, 2]}
    assert files_received["n.txt"] == b"2"
    assert files_received["report.html"] == b"<h1>{{ not a template }}</h1>"  # not rendered as a template
    assert json.loads(files_received["Übersicht ä.json"]) == [{"id": 1, "name": "Zoë"}, {"id": 2, "name": "Doe, J"}]
    related = msg.get_body(("related",))
    (inline,) = [p for p in related.iter_parts() if p.get("Content-ID")]
    assert inline["Content-ID"] == "<logo>"
    assert inline.get_content() == b"\x89PNG fake image"
    assert "logo.png" not in files_received


def test_same_message_id_across_a_retried_task_instance(smtp_server, smtp_conn):
    smtp_conn(smtp_server, retry_limit=0)
    smtp_server.reply("EOD", "451 4.3.0 Try again later")
    with make_dag("op_retry") as dag:
        send = SendEmailOperator(task_id="send", to="a@example.org", text="hi", retries=1, retry_delay=dt.timedelta(0))
        send >> SendEmailOperator(task_id="other", to="a@example.org", text="hi")
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"send": ("success", 2), "other": ("success", 1)}
    (first_try,) = smtp_server.rejected
    ids = {m.message_id for m in smtp_server.messages}
    send_id = xcom_value(dag_run, "send")["message_id"]
    assert first_try.message_id == send_id
    assert smtp_server.count(send_id) == 1
    assert len(ids) == 2  # the other task instance has its own Message-ID


@pytest.mark.parametrize("on_refused", ["fail", "warn"])
def test_partial_refusal_fails_or_warns(smtp_server, smtp_conn, on_refused):
    smtp_conn(smtp_server)
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
    with make_dag(f"op_refused_{on_refused}") as dag:
        SendEmailOperator(
            task_id="send", to="a@example.org, ghost@example.org", text="hi", on_refused=on_refused, retries=2
        )
    dag_run = run_dag(dag)

    (received,) = smtp_server.messages  # delivered once to the accepted recipient, never resent
    assert received.rcpt_tos == ["a@example.org"]
    if on_refused == "fail":
        assert task_states(dag_run)["send"] == ("failed", 1)  # no task retry: that would resend
    else:
        assert task_states(dag_run)["send"] == ("success", 1)
        assert xcom_value(dag_run, "send")["refused"] == {"ghost@example.org": [550, "5.1.1 No such user"]}


def test_dry_run_writes_a_parseable_eml_and_sends_nothing(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with make_dag("op_dry_run") as dag:
        SendEmailOperator(
            task_id="send",
            to="a@example.org",
            bcc="b@example.org",
            subject="Dry",
            text="t",
            attachments={"a.txt": "x"},
            dry_run=True,
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("success", 1)
    result = xcom_value(dag_run, "send")
    with open(result["eml_path"], "rb") as file:
        parsed = email.message_from_binary_file(file, policy=default_policy)
    assert parsed["Subject"] == "Dry"
    assert attachments_of(parsed) == {"a.txt": b"x"}
    assert smtp_server.connections == 0
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"to": "not-an-address"}, "to has invalid address"),
        ({"to": None}, "No recipient"),
        ({"subject": "a\r\nBcc: x@example.org"}, "subject .* contains a line break"),
        ({"importance": "urgent"}, "importance 'urgent'"),
        ({"attachments": "/no/such/file.pdf"}, "does not exist"),
        ({"attachments": {"filename": "x.bin", "content": "@@@", "encoding": "base64"}}, "not valid base64"),
        ({"attachments": {"big.bin": "x" * 2000}, "max_attachment_mb": 0.001}, "over the limit"),
        ({"attachments": {"r.csv": [1, 2]}}, "row 1 is 1"),
    ],
)
def test_bad_input_fails_before_connecting(smtp_server, smtp_conn, kwargs, expected, capfd):
    smtp_conn(smtp_server)
    params = {"to": "a@example.org", "text": "hi", **kwargs}
    with make_dag("op_bad_input") as dag:
        SendEmailOperator(task_id="send", retries=3, **params)
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("failed", 1)  # AirflowFailException: no pointless retries
    assert smtp_server.connections == 0
    out, err = capfd.readouterr()
    assert re.search(expected, out + err), f"{expected!r} not in the task log"


def test_paths_object_storage_and_non_native_jinja_xcom(smtp_server, smtp_conn, tmp_path):
    from pathlib import Path

    from airflow.sdk import ObjectStoragePath, task

    smtp_conn(smtp_server)
    (tmp_path / "local.pdf").write_bytes(b"%PDF-1.7 local")
    (tmp_path / "stored.csv").write_bytes(b"a,b\n1,2\n")
    (tmp_path / "url.txt").write_bytes(b"via url")
    with make_dag("op_paths") as dag:  # no native rendering: xcom_pull renders to text

        @task
        def specs():
            return [{"filename": "from_xcom.txt", "content": "pulled"}]

        specs_out = specs()
        send = SendEmailOperator(
            task_id="send",
            to="a@example.org",
            text="files",
            attachments=[
                Path(tmp_path / "local.pdf"),
                ObjectStoragePath(f"file://{tmp_path / 'stored.csv'}"),
                f"file://{tmp_path / 'url.txt'}",
                "{{ ti.xcom_pull(task_ids='specs') }}",
            ],
        )
        specs_out >> send
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("success", 1)
    (received,) = smtp_server.messages
    parts = {p.get_filename(): p for p in received.message.iter_attachments()}
    assert parts["local.pdf"].get_content_type() == "application/pdf"
    assert parts["local.pdf"].get_payload(decode=True) == b"%PDF-1.7 local"
    assert parts["stored.csv"].get_payload(decode=True) == b"a,b\n1,2\n"
    assert parts["url.txt"].get_payload(decode=True) == b"via url"
    assert parts["from_xcom.txt"].get_payload(decode=True) == b"pulled"


# -- a subject rendered from an XCom, rows rendered into attachments, a cleared task --------------------------


def test_operator_refuses_a_subject_from_an_xcom_that_decodes_to_a_reply_to(smtp_server, smtp_conn, capfd):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("op_xcom_subject") as dag:

        @task
        def ticket_title() -> str:
            return "Ticket 42 =?utf-8?q?=0A?=Reply-To: leak@example.net"

        title = ticket_title()
        send = SendEmailOperator(
            task_id="send", to="ops@example.org", subject="{{ ti.xcom_pull('ticket_title') }}", text="x", retries=2
        )
        title >> send
    dag_run = run_dag(dag)
    log = "".join(capfd.readouterr())
    assert task_states(dag_run)["send"] == ("failed", 1)  # bad input: failed at once, no retry
    assert "subject 'Ticket 42 =?utf-8?q?=0A?=Reply-To: leak@example.net' decodes to a line break" in log
    assert smtp_server.messages == [] and smtp_server.connections == 0


def test_rendered_rows_in_csv_and_json_content_arrive_as_data(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("op_rendered_rows") as dag:

        @task
        def rows() -> list[dict]:
            return [{"region": "East", "revenue": 409.9}, {"region": "West", "revenue": None}]

        send = SendEmailOperator(
            task_id="send",
            to="a@example.org",
            text="x",
            attachments=[
                {"filename": "rows.csv", "content": "{{ ti.xcom_pull('rows') }}"},
                {"filename": "rows.json", "content": "{{ ti.xcom_pull('rows') }}"},
            ],
        )
        rows() >> send
    dag_run = run_dag(dag)
    assert task_states(dag_run)["send"] == ("success", 1)
    (received,) = smtp_server.messages
    files = {p.get_filename(): p.get_payload(decode=True) for p in received.message.iter_attachments()}
    assert files["rows.csv"] == b"region,revenue\r\nEast,409.9\r\nWest,\r\n"  # not the Python repr of the list
    assert json.loads(files["rows.json"]) == [{"region": "East", "revenue": 409.9}, {"region": "West", "revenue": None}]


def test_message_id_is_new_after_a_clear_and_stable_across_retries(smtp_server, smtp_conn):
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session

    smtp_conn(smtp_server)
    with make_dag("op_clear") as dag:
        SendEmailOperator(task_id="send", to="a@example.org", subject="report", text="v1", retries=1)
    dag_run = run_dag(dag)
    first = xcom_value(dag_run, "send")["message_id"]
    with create_session() as session:
        (ti,) = dag_run.get_task_instances(session=session)
        clear_task_instances([ti], session)
    with create_session() as session:
        (ti,) = dag_run.get_task_instances(session=session)
        _run_task(ti=ti, task=dag.get_task("send"))
    ids = [m.message_id for m in smtp_server.messages]
    assert len(ids) == 2 and ids[0] == first
    assert ids[1] != first  # a clear is a deliberate resend: receivers must not drop it as a duplicate
