"""A password and an XOAUTH2 token, with DEBUG logging, through the operator, the notifier, a failing authentication
and ``test_connection``: neither secret appears in a log line, an exception's text, an XCom value or a rendered
template field; a malformed service account key is named, never echoed.

Two nets catch log lines: every byte written to stdout/stderr (``capfd``, which is what a task log shows, after
Airflow's masker), and a DEBUG handler on the root logger that sees each record *before* any masking, so the
provider must not even hand a secret to the logger. Secrets are also looked for in the base64 forms AUTH PLAIN and
XOAUTH2 put on the wire.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import traceback
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from support.airflow_helpers import run_dag, task_states, xcom_value
from support.fault_server import FaultServer
from support.reliability_log import record

from airflow_provider_smtpconn.exceptions import SmtpAuthError, SmtpConfigError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
USER = "alice@example.org"
PASSWORD = "pw-Secret-9c1e7b3d"
TOKEN = "ya29.Tok-4f8d2a91e6"
WRONG_PASSWORD = "pw-Wrong-55aa1c0f"
WRONG_TOKEN = "ya29.Wrong-0b7c33d1"
SECRETS = (PASSWORD, TOKEN, WRONG_PASSWORD, WRONG_TOKEN)


def _forms(secret: str) -> list[str]:
    """The secret, and the base64 blobs that carry it in AUTH PLAIN and AUTH XOAUTH2."""
    blobs = [f"\0{USER}\0{secret}", f"user={USER}\x01auth=Bearer {secret}\x01\x01"]
    return [secret, *(base64.b64encode(b.encode()).decode() for b in blobs)]


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        for form in _forms(secret):
            assert form not in text, f"a secret ({secret[:6]}…) leaked into {where}"


# Airflow's in-process supervisor used by dag.test() (task-sdk 1.3.2, InProcessSupervisorComms.send) logs every
# request at DEBUG with its body, including the MaskSecret request that registers a secret with the masker; the real
# supervisor logs that request as "(body omitted)". That line is Airflow's and exists only under dag.test(), so it is
# set apart here (and counted), while any other line carrying a secret fails the test.
_DAG_TEST_MASK_REQUEST = re.compile(r"\[debug\s*\] Sending request\s.*msg=MaskSecret\(value=")


def assert_no_secret_in_task_logs(where: str, text: str) -> int:
    """Like :func:`assert_no_secret`, line by line, apart from dag.test()'s own MaskSecret line; returns its count."""
    forms = [form for secret in SECRETS for form in _forms(secret)]
    upstream = 0
    for line in text.splitlines():
        if any(form in line for form in forms):
            if _DAG_TEST_MASK_REQUEST.search(line):
                upstream += 1
            else:
                assert_no_secret(where, line)
    return upstream


class _Everything(logging.Handler):
    """Keeps every record, formatted with its traceback, before any filter or masker runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:  # skip filters: see the record as it was made
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # a record that cannot be formatted is itself worth seeing
            self.lines.append(f"unformattable record {record.msg!r} {record.args!r}: {exc}")
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does the work
        pass


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Everything]:
    """DEBUG everywhere: Airflow's config, structlog, and the stdlib loggers of Airflow and the provider."""
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
    handler = _Everything()
    loggers = [
        logging.getLogger(name) for name in ("", "airflow", "airflow.task", "airflow.sdk", "airflow_provider_smtpconn")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root = loggers[0]
    root.addHandler(handler)
    structlog_config = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield handler
    finally:
        structlog.configure(**structlog_config)
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture
def servers(server_tls) -> Iterator[tuple[FaultServer, FaultServer]]:
    """A STARTTLS server with AUTH PLAIN for the password, and a server with AUTH XOAUTH2 for the token."""
    with (
        FaultServer(starttls_context=server_tls, auth={USER: PASSWORD}) as basic,
        FaultServer(xoauth2={USER: TOKEN}) as oauth,
    ):
        yield basic, oauth


def _connections(smtp_conn, basic: FaultServer, oauth: FaultServer, *, password: str, token: str) -> None:
    smtp_conn(basic, "smtp_basic", login=USER, password=password, tls_mode="starttls", retry_limit=0)
    # The token in the access_token extra, as the UI stores it, and the password field left empty.
    smtp_conn(oauth, "smtp_oauth", login=USER, auth_type="xoauth2", access_token=token, retry_limit=0)


def _rendered_fields(dag_run) -> list[dict[str, Any]]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(RTIF).where(RTIF.dag_id == dag_run.dag_id, RTIF.run_id == dag_run.run_id))
        return [dict(row.rendered_fields) for row in rows]


def _make_dag(dag_id: str):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False)


def test_operator_and_notifier_with_password_and_token(servers, smtp_conn, trust_ca, debug_logs, capfd):
    from airflow.sdk import task

    basic, oauth = servers
    _connections(smtp_conn, basic, oauth, password=PASSWORD, token=TOKEN)
    with _make_dag("secrets_ok") as dag:
        common = {"to": "ops@example.org", "subject": "{{ task.task_id }} {{ conn.smtp_basic.login }}", "text": "ok"}
        by_password = SendEmailOperator(task_id="by_password", smtp_conn_id="smtp_basic", **common)
        by_token = SendEmailOperator(task_id="by_token", smtp_conn_id="smtp_oauth", **common)

        @task(on_failure_callback=SendEmailNotifier(to="oncall@example.org", smtp_conn_id="smtp_basic"))
        def fails_and_notifies():
            raise RuntimeError("the task failed on purpose")

        @task(on_success_callback=SendEmailNotifier(to="oncall@example.org", smtp_conn_id="smtp_oauth"))
        def succeeds_and_notifies():
            return "done"

        by_password >> by_token >> [fails_and_notifies(), succeeds_and_notifies()]
    dag_run = run_dag(dag)

    states = task_states(dag_run)
    assert states["by_password"][0] == states["by_token"][0] == states["succeeds_and_notifies"][0] == "success"
    assert states["fails_and_notifies"][0] == "failed"
    # Everything really authenticated: two operator messages and two notifications.
    assert [m.authenticated_as for m in basic.messages] == [USER, USER]
    assert [m.authenticated_as for m in oauth.messages] == [USER, USER]
    assert basic.messages[0].tls

    out = "".join(capfd.readouterr())
    assert any(" DEBUG " in line for line in debug_logs.lines)  # DEBUG records really were made
    upstream = assert_no_secret_in_task_logs("the task logs (stdout/stderr)", out)
    assert_no_secret("a log record", "\n".join(debug_logs.lines))
    for task_id in ("by_password", "by_token"):
        value = xcom_value(dag_run, task_id)
        assert value["accepted"] == ["ops@example.org"]
        assert_no_secret(f"the XCom of {task_id}", json.dumps(value))
    rendered = _rendered_fields(dag_run)
    assert any(fields.get("subject") == f"by_password {USER}" for fields in rendered)  # the table was written
    assert_no_secret("a rendered template field", json.dumps(rendered, default=str))
    record(
        "secrets",
        case="operator and notifier, password and XOAUTH2 token",
        leaks=0,
        records=len(debug_logs.lines) + out.count("\n"),
        dag_test_mask_requests=upstream,
    )


def test_failing_authentication_through_the_operator(servers, smtp_conn, trust_ca, debug_logs, capfd):
    basic, oauth = servers
    _connections(smtp_conn, basic, oauth, password=WRONG_PASSWORD, token=WRONG_TOKEN)
    with _make_dag("secrets_bad_auth") as dag:
        for conn_id in ("smtp_basic", "smtp_oauth"):
            SendEmailOperator(task_id=f"via_{conn_id}", smtp_conn_id=conn_id, to="ops@example.org", text="x", retries=1)
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"via_smtp_basic": ("failed", 1), "via_smtp_oauth": ("failed", 1)}
    assert basic.messages == oauth.messages == []
    assert [ok for _, _, ok in basic.auth_attempts + oauth.auth_attempts] == [False, False]  # one try each
    out = "".join(capfd.readouterr())
    assert f"rejected the credentials of '{USER}'" in out  # the error names the user...
    assert_no_secret_in_task_logs("the task logs of a failed login", out)  # ...never the secret
    assert_no_secret("a log record of a failed login", "\n".join(debug_logs.lines))
    record("secrets", case="failing authentication through the operator", leaks=0)


@pytest.mark.parametrize("conn_id", ["smtp_basic", "smtp_oauth"])
def test_failing_authentication_exception_text(conn_id, servers, smtp_conn, trust_ca, debug_logs, capfd):
    from email.message import EmailMessage

    basic, oauth = servers
    _connections(smtp_conn, basic, oauth, password=WRONG_PASSWORD, token=WRONG_TOKEN)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = USER, "ops@example.org", "x"
    with pytest.raises(SmtpAuthError) as raised:
        SmtpConnHook(conn_id).send(message)

    error = raised.value
    shown = "".join(traceback.format_exception(error))
    assert USER in str(error)
    for where, text in (("str", str(error)), ("repr", repr(error)), ("traceback", shown), ("args", repr(error.args))):
        assert_no_secret(f"the exception's {where}", text)
    assert error.__cause__ is None and error.__suppress_context__
    assert_no_secret_in_task_logs("the logs", "".join(capfd.readouterr()))
    assert_no_secret("a log record", "\n".join(debug_logs.lines))
    record("secrets", case=f"failing authentication exception text ({conn_id})", leaks=0)


def test_test_connection_never_shows_a_secret(servers, smtp_conn, trust_ca, debug_logs, capfd):
    basic, oauth = servers
    results = {}
    for password, token in ((PASSWORD, TOKEN), (WRONG_PASSWORD, WRONG_TOKEN)):
        _connections(smtp_conn, basic, oauth, password=password, token=token)
        for conn_id in ("smtp_basic", "smtp_oauth"):
            results[conn_id, password == PASSWORD] = SmtpConnHook(conn_id).test_connection()

    assert results["smtp_basic", True][0] and results["smtp_oauth", True][0]
    assert not results["smtp_basic", False][0] and not results["smtp_oauth", False][0]
    assert f"authenticated as '{USER}'" in results["smtp_basic", True][1]
    assert f"rejected the credentials of '{USER}'" in results["smtp_oauth", False][1]
    for key, (_, text) in results.items():
        assert_no_secret(f"test_connection {key}", text)
    assert_no_secret_in_task_logs("the logs", "".join(capfd.readouterr()))
    assert_no_secret("a log record", "\n".join(debug_logs.lines))
    assert basic.messages == oauth.messages == []  # a test sends no mail
    record("secrets", case="test_connection, right and wrong secrets", leaks=0)


# -- a malformed service account key in an error ---------------------------------------------------------------

KEY_MATERIAL = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "value",
    [
        "\ufeff" + json.dumps({"type": "x", "private_key": KEY_MATERIAL}),
        json.dumps(json.dumps({"type": "x", "private_key": KEY_MATERIAL})),
        "not json " + KEY_MATERIAL,
    ],
)
def test_a_malformed_service_account_key_is_never_echoed(value, smtp_server, smtp_conn):
    smtp_conn(smtp_server, login="reports@example.org", oauth2_provider="google", service_account_json=value)
    with pytest.raises(SmtpConfigError) as raised:
        SmtpConnHook().settings  # noqa: B018
    assert "PRIVATE KEY" not in str(raised.value) and "MIIEvQ" not in str(raised.value)
    assert "service_account_json" in str(raised.value)
