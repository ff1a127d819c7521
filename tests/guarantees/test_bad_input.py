"""Bad input, across the operator's parameters and the connection's fields: each one fails with one clear sentence
naming the field and the value (never the password), before anything connects.

Most cases call the operator's own send path (``SendEmailOperator.send_email``, which reads the connection through
the hook, normalises attachments and composes the message) directly, without ``dag.test()``: fast, and the same
code a task runs. A handful go through ``dag.test()`` to prove the task path. Every case runs with a real server
configured in the connection, and with ``socket.create_connection`` replaced by a guard: the server must see no
connection and nothing may try to open one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from typing import TYPE_CHECKING, Any

import pytest
from support.airflow_helpers import connection_json, run_dag, task_states
from support.reliability_log import record
from support.sending import send

from airflow_provider_smtpconn.exceptions import AttachmentError, InvalidMessageError, SmtpConfigError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator
from airflow_provider_smtpconn.sending import EmailRequest, send_email

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
PASSWORD = "pw-NEVER-shown-7f3a"
BASE_EXTRA = {"tls_mode": "none", "retry_wait": 0, "timeout": 5, "from_email": "Airflow <airflow@example.org>"}
DIRECTORY = "<tmp directory>"  # replaced by a real directory in the test
CRLF_BCC = "\r\nBcc: victim@example.org"


# (id, operator parameters, error class, texts the message must contain: the field, then the value as shown)
OPERATOR_CASES: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("to: no @", {"to": "not-an-address"}, InvalidMessageError, ("to", "'not-an-address'")),
    ("to: no domain", {"to": "a@"}, InvalidMessageError, ("to", "'a@'")),
    ("to: no local part", {"to": "@example.org"}, InvalidMessageError, ("to", "'@example.org'")),
    ("to: two @", {"to": "a@@example.org"}, InvalidMessageError, ("to", "'a@@example.org'")),
    ("to: space in address", {"to": "jane doe@example.org"}, InvalidMessageError, ("to", "jane doe@example.org")),
    ("to: dotless domain", {"to": "a@example"}, InvalidMessageError, ("to", "'a@example'")),
    ("to: one bad among good", {"to": "a@example.org; b@; c@example.org"}, InvalidMessageError, ("to", "'b@'")),
    ("to: empty", {"to": ""}, InvalidMessageError, ("No recipient", "to, cc or bcc")),
    ("to: separators only", {"to": " ,; ,;"}, InvalidMessageError, ("No recipient", "to, cc or bcc")),
    ("to: empty list", {"to": []}, InvalidMessageError, ("No recipient", "to, cc or bcc")),
    ("to: not text in list", {"to": ["a@example.org", 42]}, InvalidMessageError, ("to", "42")),
    ("to: a number", {"to": 42}, InvalidMessageError, ("to", "42")),
    ("to: CR/LF in display name", {"to": f'"Eve{CRLF_BCC}" <eve@example.org>'}, InvalidMessageError, ("to", r"\r\n")),
    ("cc: malformed", {"cc": "bad@"}, InvalidMessageError, ("cc", "'bad@'")),
    ("bcc: malformed", {"bcc": "bad bcc"}, InvalidMessageError, ("bcc", "'bad bcc'")),
    ("reply_to: malformed", {"reply_to": "nope"}, InvalidMessageError, ("reply_to", "'nope'")),
    ("from_email: malformed", {"from_email": "not a sender"}, InvalidMessageError, ("from_email", "'not a sender'")),
    (
        "from_email: two addresses",
        {"from_email": "a@example.org, b@example.org"},
        InvalidMessageError,
        ("from_email", "'a@example.org, b@example.org'"),
    ),
    (
        "from_email: CR/LF in name",
        {"from_email": f"Eve{CRLF_BCC} <e@example.org>"},
        InvalidMessageError,
        ("from_email", r"\r\n"),
    ),
    (
        "subject: CR/LF",
        {"subject": f"Hi{CRLF_BCC}"},
        InvalidMessageError,
        ("subject", r"'Hi\r\nBcc: victim@example.org'"),
    ),
    ("subject: LF", {"subject": "line\nbreak"}, InvalidMessageError, ("subject", r"'line\nbreak'")),
    (
        "headers: CR/LF in value",
        {"headers": {"X-Note": f"a{CRLF_BCC}"}},
        InvalidMessageError,
        ("headers['X-Note']", r"'a\r\nBcc: victim@example.org'"),
    ),
    ("headers: space in name", {"headers": {"X Bad": "v"}}, InvalidMessageError, ("headers", "'X Bad'")),
    ("headers: colon in name", {"headers": {"X-Bad:": "v"}}, InvalidMessageError, ("headers", "'X-Bad:'")),
    ("headers: CR/LF in name", {"headers": {"X-A\r\nBcc": "v"}}, InvalidMessageError, ("headers", r"'X-A\r\nBcc'")),
    ("headers: empty name", {"headers": {"": "v"}}, InvalidMessageError, ("headers", "''")),
    ("headers: reserved name", {"headers": {"From": "x@example.org"}}, InvalidMessageError, ("headers", "'From'")),
    ("importance: unknown", {"importance": "urgent"}, InvalidMessageError, ("importance", "'urgent'")),
    ("importance: empty", {"importance": ""}, InvalidMessageError, ("importance", "''")),
    ("on_refused: unknown", {"on_refused": "ignore"}, InvalidMessageError, ("on_refused", "'ignore'")),
    ("max_attachment_mb: negative", {"max_attachment_mb": -1}, InvalidMessageError, ("max_attachment_mb", "-1")),
    ("max_attachment_mb: text", {"max_attachment_mb": "lots"}, InvalidMessageError, ("max_attachment_mb", "'lots'")),
    ("text: bytes", {"text": b"raw"}, InvalidMessageError, ("text", "bytes")),
    (
        "attachment: path missing",
        {"attachments": "/no/such/file.pdf"},
        AttachmentError,
        ("Attachment", "/no/such/file.pdf"),
    ),
    ("attachment: path is a directory", {"attachments": DIRECTORY}, AttachmentError, ("Attachment", "directory")),
    ("attachment: empty path", {"attachments": [" "]}, AttachmentError, ("attachment path", "empty")),
    (
        "attachment: undecodable base64",
        {"attachments": {"filename": "x.bin", "content": "@@not base64@@", "encoding": "base64"}},
        AttachmentError,
        ("Attachment 'x.bin'", "base64"),
    ),
    (
        "attachment: truncated base64",
        {"attachments": {"filename": "x.bin", "content": "aGVsbG8", "encoding": "base64"}},
        AttachmentError,
        ("Attachment 'x.bin'", "base64"),
    ),
    (
        "attachment: base64 of a number",
        {"attachments": {"filename": "x.bin", "content": 7, "encoding": "base64"}},
        AttachmentError,
        ("Attachment 'x.bin'", "int"),
    ),
    (
        "attachment: unknown encoding",
        {"attachments": {"filename": "x.bin", "content": "aa", "encoding": "hex"}},
        AttachmentError,
        ("Attachment 'x.bin'", "'hex'"),
    ),
    (
        "attachment: .csv rows are numbers",
        {"attachments": {"r.csv": [1, 2]}},
        AttachmentError,
        ("'r.csv'", "row 1 is 1"),
    ),
    ("attachment: .csv of a dict", {"attachments": {"r.csv": {"a": 1}}}, AttachmentError, ("'r.csv'", "dict")),
    (
        "attachment: .csv rows with other keys",
        {"attachments": {"r.csv": [{"a": 1}, {"b": 2}]}},
        AttachmentError,
        ("'r.csv'", "row 2", "['b']"),
    ),
    (
        "attachment: .csv columns not a list",
        {"attachments": {"filename": "r.csv", "content": [[1]], "columns": "a,b"}},
        AttachmentError,
        ("'r.csv'", "columns", "'a,b'"),
    ),
    (
        "attachment: over the limit",
        {"attachments": {"big.bin": "x" * 2048}, "max_attachment_mb": 0.001},
        AttachmentError,
        ("Attachment 'big.bin'", "2,048 bytes", "1,048 bytes"),
    ),
    (
        "attachment: content and path",
        {"attachments": {"filename": "x.txt", "content": "a", "path": "/etc/hostname"}},
        AttachmentError,
        ("Attachment 'x.txt'", "has both content and path"),
    ),
    (
        "attachment: unknown key",
        {"attachments": {"filename": "x.txt", "content": "a", "colour": "red"}},
        AttachmentError,
        ("Attachment 'x.txt'", "['colour']"),
    ),
    (
        "attachment: content without filename",
        {"attachments": {"content": "a"}},
        AttachmentError,
        ("attachment", "needs a filename"),
    ),
    (
        "attachment: file name is a path",
        {"attachments": {"filename": "../etc/passwd", "content": "a"}},
        AttachmentError,
        ("Attachment filename", "'../etc/passwd'"),
    ),
    (
        "attachment: CR/LF in file name",
        {"attachments": {"filename": "a\r\nb.txt", "content": "a"}},
        AttachmentError,
        ("Attachment filename", r"'a\r\nb.txt'"),
    ),
    (
        "attachment: bad content_type",
        {"attachments": {"filename": "x.txt", "content": "a", "content_type": "text"}},
        AttachmentError,
        ("content_type", "'text'"),
    ),
    (
        "attachment: bad content_id",
        {"attachments": {"filename": "a.png", "content": "x", "content_id": "has space"}},
        AttachmentError,
        ("content_id", "'has space'"),
    ),
    ("attachment: a number", {"attachments": 42}, AttachmentError, ("attachment", "int")),
    ("attachment: list for a .bin", {"attachments": {"data.bin": [1, 2]}}, AttachmentError, ("'data.bin'", "list")),
    (
        "attachment: unreadable rendered list",
        {"attachments": "[not, a literal]"},
        AttachmentError,
        ("attachments", "'[not, a literal]'"),
    ),
    (
        "list_unsubscribe: http",
        {"list_unsubscribe": "http://example.org/u"},
        InvalidMessageError,
        ("list_unsubscribe", "'http://example.org/u'", "https"),
    ),
    (
        "list_unsubscribe: two https URLs",
        {"list_unsubscribe": ["https://example.org/a", "https://example.org/b"]},
        InvalidMessageError,
        ("list_unsubscribe", "2 https URLs"),
    ),
    (
        "list_unsubscribe: encoded line break",
        {"list_unsubscribe": "https://example.org/u?x==?utf-8?q?=0A?=Bcc:x@example.net"},
        InvalidMessageError,
        ("list_unsubscribe", "decodes to a line break"),
    ),
    (
        "dsn: unknown NOTIFY",
        {"dsn": {"notify": ["failure", "bounce"]}},
        InvalidMessageError,
        ("dsn notify", "'bounce'"),
    ),
    ("dsn: unknown RET", {"dsn": {"ret": "everything"}}, InvalidMessageError, ("dsn ret", "'everything'")),
]

MALFORMED_KEY = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n"

# (id, connection fields or extras, texts the message must contain). Extras are merged into BASE_EXTRA; the keys
# host/port/login/extra_raw set the connection itself.
CONNECTION_CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("tls_mode: unknown", {"tls_mode": "ssl"}, ("tls_mode", "'ssl'")),
    ("tls_mode: not text", {"tls_mode": 1}, ("tls_mode", "1")),
    ("port: negative", {"port": -1}, ("port", "-1")),
    ("port: too big", {"port": 70000}, ("port", "70000")),
    ("host: missing", {"host": ""}, ("host", "''")),
    ("host: has a space", {"host": "smtp example.org"}, ("host", "'smtp example.org'")),
    ("timeout: negative", {"timeout": -5}, ("timeout", "-5")),
    ("timeout: text", {"timeout": "soon"}, ("timeout", "'soon'")),
    ("timeout: zero", {"timeout": 0}, ("timeout", "0")),
    ("timeout: NaN", {"timeout": "nan"}, ("timeout", "'nan'")),
    ("timeout: infinite", {"timeout": "inf"}, ("timeout", "'inf'")),
    ("timeout: boolean", {"timeout": True}, ("timeout", "True")),
    ("retry_limit: negative", {"retry_limit": -1}, ("retry_limit", "-1")),
    ("retry_limit: fraction", {"retry_limit": 1.5}, ("retry_limit", "1.5")),
    ("retry_wait: text", {"retry_wait": "later"}, ("retry_wait", "'later'")),
    ("retry_wait: NaN", {"retry_wait": "nan"}, ("retry_wait", "'nan'")),
    ("auth_type: unknown", {"auth_type": "oauth"}, ("auth_type", "'oauth'")),
    ("auth_type: xoauth2 without token", {"auth_type": "xoauth2", "login": None}, ("auth_type", "'xoauth2'")),
    ("ignore_self_signed: not a flag", {"ignore_self_signed": "maybe"}, ("ignore_self_signed", "'maybe'")),
    ("allow_plaintext_auth: not a flag", {"allow_plaintext_auth": 2}, ("allow_plaintext_auth", "2")),
    ("max_attachment_mb: negative", {"max_attachment_mb": "-3"}, ("max_attachment_mb", "'-3'")),
    ("max_attachment_mb: NaN", {"max_attachment_mb": "nan"}, ("max_attachment_mb", "'nan'")),
    ("local_hostname: CR/LF", {"local_hostname": "me\r\nRSET"}, ("local_hostname", r"'me\r\nRSET'")),
    ("local_hostname: space", {"local_hostname": "my host"}, ("local_hostname", "'my host'")),
    ("from_email: malformed", {"from_email": "not-an-address"}, ("from_email", "'not-an-address'")),
    (
        "ca_bundle: missing file",
        {"tls_mode": "starttls", "ca_bundle": "/no/such/ca.pem"},
        ("ca_bundle", "/no/such/ca.pem"),
    ),
    (
        "password in plain text to a remote host",
        {"host": "smtp.example.org", "tls_mode": "none"},
        ("tls_mode is 'none'", "smtp.example.org"),
    ),
    ("extra: not JSON", {"extra_raw": "{not json"}, ("extra", "not valid JSON")),
    ("extra: not an object", {"extra_raw": "[1, 2]"}, ("extra", "not a JSON object")),
    (
        "max_recipients_per_message: zero",
        {"max_recipients_per_message": 0},
        ("max_recipients_per_message", "0"),
    ),
    ("message_id_domain: not a domain", {"message_id_domain": "mail example"}, ("message_id_domain", "'mail example'")),
    ("dkim_domain: not a domain", {"dkim_domain": "-bad-.org"}, ("dkim_domain", "'-bad-.org'")),
    ("dkim: selector and key missing", {"dkim_domain": "example.org"}, ("dkim_selector and dkim_private_key",)),
    (
        "dkim_private_key: malformed",
        {"dkim_domain": "example.org", "dkim_selector": "s1", "dkim_private_key": MALFORMED_KEY},
        ("dkim_private_key", "not a readable RSA private key"),
    ),
    (
        "dkim_private_key: no such file",
        {"dkim_domain": "example.org", "dkim_selector": "s1", "dkim_private_key": "/no/such/dkim.pem"},
        ("dkim_private_key", "neither a PEM private key nor the path"),
    ),
]


def _define_connection(monkeypatch: pytest.MonkeyPatch, server: Any, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    host = fields.pop("host", server.host)
    port = fields.pop("port", server.port)
    login = fields.pop("login", "bob")
    raw = fields.pop("extra_raw", None)
    if raw is not None:
        value = json.dumps(
            {"conn_type": "smtpconn", "host": host, "port": port, "login": login, "password": PASSWORD, "extra": raw}
        )
    else:
        value = connection_json(host, port, login=login, password=PASSWORD, **{**BASE_EXTRA, **fields})
    monkeypatch.setenv("AIRFLOW_CONN_SMTPCONN_DEFAULT", value)


def _send(params: dict[str, Any]) -> None:
    operator = SendEmailOperator(task_id="bad_input", **{"to": "a@example.org", "text": "hi", **params})
    send_email(operator.email_request(), SmtpConnHook(operator.smtp_conn_id), identity=("bad-input",))


def _check_message(case_id: str, text: str, shows: tuple[str, ...]) -> None:
    assert "\n" not in text and "\r" not in text, f"{case_id}: not one line: {text!r}"
    for expected in shows:
        assert expected in text, f"{case_id}: {expected!r} not in {text!r}"
    assert PASSWORD not in text and "bm90IGEga2V5" not in text
    assert len(re.findall(r"[.!?](?:\s|$)", text.rstrip(".") + ".")) <= 3, f"{case_id}: rambling: {text!r}"


def _case_params(params: dict[str, Any], directory: Path) -> dict[str, Any]:
    return {k: (str(directory) if v == DIRECTORY else v) for k, v in params.items()}


@pytest.mark.parametrize(
    ("params", "error", "shows"), [c[1:] for c in OPERATOR_CASES], ids=[c[0] for c in OPERATOR_CASES]
)
def test_bad_operator_parameter(request, params, error, shows, smtp_server, guarded, monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    _define_connection(monkeypatch, smtp_server, {})
    with pytest.raises(error) as raised:
        _send(_case_params(params, tmp_path))

    text = str(raised.value)
    record("bad_input", case=request.node.callspec.id, kind="operator", message=text)
    _check_message(request.node.callspec.id, text, shows)
    assert isinstance(raised.value, AirflowFailException)  # bad input is not retried by the task
    assert smtp_server.connections == 0
    assert guarded == []


@pytest.mark.parametrize(("fields", "shows"), [c[1:] for c in CONNECTION_CASES], ids=[c[0] for c in CONNECTION_CASES])
def test_bad_connection_field(request, fields, shows, smtp_server, guarded, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    _define_connection(monkeypatch, smtp_server, fields)
    with pytest.raises((SmtpConfigError, InvalidMessageError)) as raised:
        _send({})

    text = str(raised.value)
    record("bad_input", case=request.node.callspec.id, kind="connection", message=text)
    _check_message(request.node.callspec.id, text, shows)
    assert isinstance(raised.value, AirflowFailException)
    assert smtp_server.connections == 0
    assert guarded == []


@pytest.mark.parametrize(
    ("port", "shows"),
    [("abc", "'abc'"), (25.5, "25.5"), (True, "True"), (0, "0"), ("", None)],
    ids=["text", "fraction", "boolean", "zero", "empty means the default"],
)
def test_connection_port_that_is_not_a_port(port, shows, guarded):
    """A port Airflow's own parsers would not produce (a UI form, a secrets backend can): read from the object."""
    from airflow.sdk import Connection

    from airflow_provider_smtpconn.hooks.smtp import settings_from_connection

    conn = Connection(conn_id="c", conn_type="smtpconn", host="127.0.0.1", port=port, password=PASSWORD)
    if shows is None:
        assert settings_from_connection(conn).port == 587  # the default of tls_mode starttls
        return
    with pytest.raises(SmtpConfigError) as raised:
        settings_from_connection(conn)
    _check_message(f"port {port!r}", str(raised.value), ("port", shows))
    assert guarded == []


def test_the_count_of_bad_inputs():
    """The README quotes this number: at least 40 kinds of bad input, each refused before connecting."""
    count = len(OPERATOR_CASES) + len(CONNECTION_CASES) + 4 + len(DAG_CASES) + 1  # + the missing template
    record("bad_input_count", count=count)
    assert count >= 40


# -- through dag.test(): the task path -----------------------------------------------------------------------------

DAG_CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("to with CR/LF", {"to": "a@example.org\r\nBcc: victim@example.org"}, {}, ("to has invalid address",)),
    ("importance unknown", {"importance": "{{ 'ur' ~ 'gent' }}"}, {}, ("importance 'urgent'",)),
    ("attachment is a directory", {"attachments": DIRECTORY}, {}, ("is a directory, not a file",)),
    ("tls_mode unknown", {}, {"tls_mode": "tls"}, ("tls_mode 'tls' is not one of",)),
    ("timeout text", {}, {"timeout": "soon"}, ("timeout 'soon' is not a number",)),
    ("extra not JSON", {}, {"extra_raw": "{not json"}, ("is not valid JSON",)),
]


@pytest.mark.parametrize(("params", "fields", "shows"), [c[1:] for c in DAG_CASES], ids=[c[0] for c in DAG_CASES])
def test_bad_input_through_dag_test(request, params, fields, shows, smtp_server, monkeypatch, tmp_path, capfd):
    from airflow.sdk import DAG

    _define_connection(monkeypatch, smtp_server, fields)
    dag_id = "bad_" + re.sub(r"\W", "_", request.node.callspec.id)
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        SendEmailOperator(
            task_id="send", **{"to": "a@example.org", "text": "hi", **_case_params(params, tmp_path)}, retries=2
        )
    dag_run = run_dag(dag)

    log = "".join(capfd.readouterr())
    assert task_states(dag_run)["send"] == ("failed", 1)  # no retry: it would fail the same way
    for expected in shows:
        assert expected in log
    assert PASSWORD not in log
    assert smtp_server.connections == 0


def test_missing_body_template_fails_naming_the_field_and_file(smtp_server, smtp_conn):
    """``text`` ending in ``.txt`` is a template file; a missing one fails rendering, before any connection.

    Airflow's templater logs the field and the file through stdlib logging; a handler of our own reads it (pytest's
    fd capture does not see a stream Airflow bound during an earlier test).
    """
    import logging

    from airflow.sdk import DAG

    lines: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("airflow.sdk.definitions._internal.templater")
    logger.addHandler(handler)
    smtp_conn(smtp_server)
    try:
        with DAG("bad_missing_template", schedule=None, start_date=START, catchup=False) as dag:
            SendEmailOperator(task_id="send", to="a@example.org", text="no_such_body.txt", retries=2)
        dag_run = run_dag(dag)
    finally:
        logger.removeHandler(handler)

    assert task_states(dag_run)["send"] == ("failed", 1)  # a InvalidMessageError: no retry
    assert lines == ["Exception rendering Jinja template for task 'send', field 'text'. Template: 'no_such_body.txt'"]
    assert smtp_server.connections == 0


# -- through the send path with the default connection: addresses, attachment specs, connection numbers -------


def test_quoted_local_part_with_a_space_is_valid_and_rfc5321_lengths_are_enforced(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(to='"john doe"@example.org')
    assert smtp_server.messages[0].rcpt_tos == ['"john doe"@example.org']
    for address in ("a" * 65 + "@example.org", "a@" + "b" * 64 + ".org"):
        with pytest.raises(InvalidMessageError, match="^to has invalid address"):
            send(to=address)
    assert smtp_server.connections == 1


def test_a_dict_with_filename_is_always_a_spec(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="Attachment 'a.txt' needs content or path"):
        send_email(EmailRequest(to="a@example.org", text="x", attachments={"filename": "a.txt"}), SmtpConnHook())
    assert smtp_server.connections == 0


@pytest.mark.parametrize("content_type", ["multipart/mixed; boundary=zzz", "message/rfc822", "multipart/alternative"])
def test_container_content_types_are_refused_for_attachments(content_type, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="container type"):
        send(attachments={"filename": "a.bin", "content": "x", "content_type": content_type})
    assert smtp_server.connections == 0


def test_a_pipe_is_not_called_a_directory(smtp_server, smtp_conn, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="is not a regular file"):
        send(attachments=str(fifo))


@pytest.mark.parametrize(
    ("extra", "shows"),
    [
        ({"timeout": 1e300}, "timeout 1e+300 must be at most 3600"),
        ({"retry_limit": 10**12}, "retry_limit 1000000000000 must be at most 100"),
        ({"local_hostname": "h" * 600}, "local_hostname"),
        ({"max_attachment_mb": 100000}, "max_attachment_mb 100000 must be at most 1024"),
    ],
)
def test_absurd_connection_numbers_are_refused_before_connecting(extra, shows, smtp_server, smtp_conn):
    smtp_conn(smtp_server, **extra)
    ok, text = SmtpConnHook().test_connection()
    assert not ok and shows in text
    assert smtp_server.connections == 0
