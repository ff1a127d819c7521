"""The field reports of issue 9, each replayed through the public API against a real server on loopback.

Header injection through RFC 2047 encoded words (every way in), the AUTH mechanism choice, errors that lead to
the fix, attachment specs, the Message-ID after a clear, the connection form. What left the client is parsed
with a parser of our own (header lines split by hand), independent of the ``email`` package that built it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from support.airflow_helpers import run_dag, task_states, xcom_value
from support.fault_server import FaultServer

from airflow_provider_smtpconn.exceptions import (
    AttachmentError,
    HeaderInjectionError,
    InvalidMessageError,
    SmtpAuthError,
    SmtpTLSError,
)
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator
from airflow_provider_smtpconn.sending import EmailRequest, send_email

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SUBJECT_BCC = "Weekly report =?utf-8?q?=0A?=Bcc: leak@example.net"
HEADER_REPLY_TO = "T-1 =?utf-8?q?=0D=0AReply-To:_leak@example.net?="
FILENAME = "=?utf-8?q?report=0D=0AX-Injected:_yes?=.txt"


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """``(name, value)`` of each header line of a raw message, unfolded: a parser that is not ``email``'s."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields: list[tuple[str, str]] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line)
        else:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
    return fields


def part_header_names(raw: bytes) -> list[list[str]]:
    """The header names of every MIME part after the top-level headers, per part (split on the boundaries)."""
    text = raw.replace(b"\r\n", b"\n").decode("utf-8", "replace")
    parts = text.split("\n--")[1:]
    names = [[n for n, _ in header_lines(("x: y\n" + p.split("\n", 1)[-1]).encode())[1:] if n] for p in parts]
    return [n for n in names if n]


def make_dag(dag_id: str, **kwargs):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


# -- 1. header injection through encoded words ---------------------------------------------------------------------

INJECTIONS = [
    ("subject", {"subject": SUBJECT_BCC}),
    ("headers['X-Ticket']", {"headers": {"X-Ticket": HEADER_REPLY_TO}}),
    ("attachments: filename", {"attachments": {FILENAME: "x"}}),
    ("subject", {"subject": "NUL =?utf-8?q?a=00b?="}),
    ("to", {"to": '"=?utf-8?q?Eve=0A?=" <eve@example.org>'}),
    ("cc", {"cc": "=?utf-8?q?Eve=0D=0ABcc:_x@example.net?= <eve@example.org>"}),
    ("reply_to", {"reply_to": '"=?utf-8?q?R=0A?=" <r@example.org>'}),
    ("from_email", {"from_email": '"=?utf-8?q?Ops=0A?=" <ops@example.org>'}),
]


@pytest.mark.parametrize(("field", "params"), INJECTIONS, ids=[f"{f}:{i}" for i, (f, _) in enumerate(INJECTIONS)])
def test_encoded_line_breaks_are_refused_in_every_header(field, params, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    request = EmailRequest(**{"to": "a@example.org", "text": "hi", **params})
    with pytest.raises(InvalidMessageError) as raised:
        send_email(request, SmtpConnHook())
    assert str(raised.value).startswith(field), str(raised.value)
    assert "\n" not in str(raised.value)
    assert smtp_server.connections == 0


def test_legitimate_encoded_words_arrive_with_exactly_the_intended_headers(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    request = EmailRequest(
        to="=?utf-8?q?Jos=C3=A9?= <jose@example.org>",
        subject="Caf\u00e9 =?utf-8?q?report?= Bcc: not-a-header",
        headers={"X-Ticket": "T-1 =?utf-8?q?caf=C3=A9?="},
        text="hi",
        attachments={"r\u00e9sum\u00e9 =?utf-8?q?x?=.txt": "x"},
    )
    send_email(request, SmtpConnHook())
    (received,) = smtp_server.messages
    names = [n for n, _ in header_lines(received.data)]
    assert sorted(names) == sorted(
        ["from", "to", "subject", "date", "message-id", "x-ticket", "content-type", "mime-version"]
    )
    assert received.rcpt_tos == ["jose@example.org"]
    assert received.message["X-Ticket"] == "T-1 caf\u00e9"
    assert [sorted(p) for p in part_header_names(received.data) if p] == [
        ["content-transfer-encoding", "content-type"],
        ["content-disposition", "content-transfer-encoding", "content-type"],
    ]


def test_operator_refuses_a_subject_from_an_xcom_that_decodes_to_a_reply_to(smtp_server, smtp_conn, capfd):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("field_reports_xcom_subject") as dag:

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


def test_notifier_email_backend_and_send_test_refuse_it_too(smtp_server, smtp_conn, capsys):
    from airflow_provider_smtpconn.cli import main
    from airflow_provider_smtpconn.email_backend import send_email as backend_send_email
    from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

    smtp_conn(smtp_server)
    with pytest.raises(HeaderInjectionError, match="^subject "):
        SendEmailNotifier(to="a@example.org", subject=SUBJECT_BCC).notify({})
    with pytest.raises(HeaderInjectionError, match="^subject "):
        backend_send_email(to="a@example.org", subject=SUBJECT_BCC, html_content="x")
    with pytest.raises(HeaderInjectionError, match=r"^headers\['X-Ticket'\]"):
        backend_send_email(
            to="a@example.org", subject="s", html_content="x", custom_headers={"X-Ticket": HEADER_REPLY_TO}
        )
    assert main(["send-test", "smtpconn_default", "--to", "a@example.org", "--subject", SUBJECT_BCC]) == 1
    assert "HeaderInjectionError: subject " in capsys.readouterr().err
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    "spec",
    [
        {"filename": "a.txt", "content": "x", "content_type": 'text/plain; name="=?utf-8?q?a=0Ab?="'},
        {"filename": "a.txt", "content": "x", "content_type": "text/plain; name*=utf-8''a%0Ab"},
    ],
)
def test_content_type_parameters_cannot_carry_a_line_break(spec, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError, match="content_type|line break"):
        send_email(EmailRequest(to="a@example.org", text="x", attachments=spec), SmtpConnHook())
    assert smtp_server.connections == 0


def test_a_content_id_that_looks_encoded_stays_one_header(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    spec = {"filename": "c.png", "content": "eA==", "encoding": "base64", "content_id": "=?utf-8?q?a=0AX-Bad:_1?="}
    try:
        send_email(EmailRequest(to="a@example.org", html='<img src="cid:x">', attachments=spec), SmtpConnHook())
    except InvalidMessageError:
        assert smtp_server.connections == 0
        return
    (received,) = smtp_server.messages
    assert "x-bad" not in {n for part in part_header_names(received.data) for n in part}


# -- 2. AUTH mechanism ----------------------------------------------------------------------------------------------


@pytest.fixture
def saslauthd_relay():
    """Advertises CRAM-MD5 LOGIN PLAIN but cannot verify CRAM-MD5, like Postfix on saslauthd."""
    mechanisms = ("CRAM-MD5", "LOGIN", "PLAIN")
    with FaultServer(auth={"alice": "pw"}, auth_mechanisms=mechanisms, cram_md5_works=False) as server:
        yield server


@pytest.mark.parametrize(("mechanism", "used"), [(None, "PLAIN"), ("auto", "PLAIN"), ("LOGIN", "LOGIN")])
def test_auth_mechanism_auto_prefers_plain_and_a_chosen_one_is_used(mechanism, used, saslauthd_relay, smtp_conn):
    extra = {} if mechanism is None else {"auth_mechanism": mechanism}
    smtp_conn(saslauthd_relay, login="alice", password="pw", **extra)
    send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    assert saslauthd_relay.auth_attempts == [(used, "alice", True)]
    assert len(saslauthd_relay.messages) == 1


def test_a_rejected_mechanism_is_named_with_the_field_to_change_after_one_attempt(saslauthd_relay, smtp_conn):
    smtp_conn(saslauthd_relay, login="alice", password="pw", auth_mechanism="CRAM-MD5", retry_limit=3)
    with pytest.raises(SmtpAuthError) as raised:
        send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    text = str(raised.value)
    assert "CRAM-MD5" in text and "535" in text and "auth_mechanism" in text and "pw" not in text
    assert saslauthd_relay.auth_attempts == [("CRAM-MD5", "alice", False)]  # one attempt: no lockout
    assert saslauthd_relay.messages == []


def test_cram_md5_works_where_the_server_can_verify_it(smtp_conn):
    with FaultServer(auth={"alice": "pw"}, auth_mechanisms=("CRAM-MD5",)) as server:
        smtp_conn(server, login="alice", password="pw")
        send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
        assert server.auth_attempts == [("CRAM-MD5", "alice", True)]


def test_unknown_auth_mechanism_is_refused_before_connecting(smtp_server, smtp_conn):
    smtp_conn(smtp_server, login="alice", password="pw", auth_mechanism="DIGEST-MD5")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "auth_mechanism 'DIGEST-MD5' is not one of PLAIN, LOGIN, CRAM-MD5 or auto" in text
    assert smtp_server.connections == 0


# -- 3. errors that lead to the fix ----------------------------------------------------------------------------------


def test_empty_tls_mode_without_starttls_says_where_the_mode_came_from(smtp_conn, server_tls):
    with FaultServer(starttls_context=server_tls, offer_starttls=False) as server:
        smtp_conn(server, tls_mode=None)
        with pytest.raises(SmtpTLSError) as raised:
            send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    text = str(raised.value)
    assert f"the automatic choice for port {server.port}" in text
    assert "'implicit'" in text and "'none'" in text


def test_test_button_checks_every_field_a_send_checks_before_connecting(smtp_server, smtp_conn, monkeypatch):
    smtp_conn(smtp_server, max_attachment_mb="ten")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "max_attachment_mb 'ten' is not a number" in text
    smtp_conn(smtp_server, from_email="not an address")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "from_email" in text
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    ("header", "parameter"),
    [("Reply-To", "reply_to"), ("To", "to"), ("Importance", "importance"), ("X-Priority", "importance")],
)
def test_a_header_the_operator_owns_names_the_parameter_to_use(header, parameter, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError, match=f"use its parameter {parameter}"):
        send_email(EmailRequest(to="a@example.org", text="x", headers={header: "x"}), SmtpConnHook())


# -- 4. attachment specs --------------------------------------------------------------------------------------------


def test_a_dict_with_filename_is_always_a_spec(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="Attachment 'a.txt' needs content or path"):
        send_email(EmailRequest(to="a@example.org", text="x", attachments={"filename": "a.txt"}), SmtpConnHook())
    assert smtp_server.connections == 0


def test_rendered_rows_in_csv_and_json_content_arrive_as_data(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("field_reports_rendered_rows") as dag:

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


def test_json_attachments_are_valid_json_with_nan_and_infinity_as_null(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    content = {"ratio": float("nan"), "limits": [float("inf"), -float("inf"), 1.5]}
    send_email(EmailRequest(to="a@example.org", text="x", attachments={"d.json": content}), SmtpConnHook())
    (received,) = smtp_server.messages
    (part,) = received.message.iter_attachments()
    raw = part.get_payload(decode=True).decode()
    assert "NaN" not in raw and "Infinity" not in raw
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c}")) == {
        "ratio": None,
        "limits": [None, None, 1.5],
    }


# -- 5. Message-ID on a deliberate resend ---------------------------------------------------------------------------


def test_message_id_is_new_after_a_clear_and_stable_across_retries(smtp_server, smtp_conn):
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session

    smtp_conn(smtp_server)
    with make_dag("field_reports_clear") as dag:
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


# -- 6. the connection form -----------------------------------------------------------------------------------------


def test_the_form_offers_automatic_tls_and_puts_weakening_switches_last():
    from airflow_provider_smtpconn.connection.form import connection_type

    fields = connection_type()["conn-fields"]
    keys = list(fields)
    assert keys[0] == "from_email"
    assert keys[-2:] == ["ignore_self_signed", "allow_plaintext_auth"]
    tls = fields["tls_mode"]["schema"]
    assert tls["enum"][0] == "auto" and tls["default"] == "auto"
    assert set(tls["values_display"]) == set(tls["enum"])
    assert fields["timeout"]["schema"]["minimum"] > 0
    assert "retry_wait" in fields and "auth_mechanism" in fields
    for key, field in fields.items():
        words = field["description"].replace("'", " ").replace(".", " ").replace(",", " ").split()
        others = [k for k in fields if k != key and "_" in k]
        assert not [k for k in others if k in words], f"{key}: a description names an extra key, not its label"


def test_automatic_tls_mode_from_the_form_means_by_port(smtp_server, smtp_conn):
    smtp_conn(smtp_server, tls_mode="auto")
    assert SmtpConnHook().settings.tls_mode == "starttls" and SmtpConnHook().settings.tls_mode_from_port
