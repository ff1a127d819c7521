"""MailMergeOperator through ``dag.test()`` against the aiosmtpd server: what arrived is parsed and checked."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.airflow_helpers import make_dag, run_dag, task_states, xcom_value
from support.fault_server import FaultServer

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

pytestmark = pytest.mark.usefixtures("airflow_db")

CUSTOMERS = [
    {"id": 7, "name": "Ann", "email": "ann@example.org", "balance": "12.50"},
    {"id": 8, "name": "Bob", "email": "bob@example.org", "balance": "0.00"},
    {"id": 9, "name": "Zoë", "email": "zoe@example.org", "balance": "99.90"},
]


@pytest.fixture(autouse=True)
def journal_dir(tmp_path, monkeypatch):
    folder = tmp_path / "journal"
    monkeypatch.setenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", str(folder))
    return folder


def by_recipient(server) -> dict[str, object]:
    return {m.rcpt_tos[0]: m.message for m in server.messages}


def text_of(message, subtype="plain") -> str:
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def outcomes_of(result) -> dict[str, dict]:
    columns = result["outcome_columns"]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in result["outcomes"]}


def test_each_row_gets_its_own_message_over_one_session(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("merge_basics") as dag:

        @task
        def customers():
            return CUSTOMERS

        MailMergeOperator(
            task_id="merge",
            rows=customers(),
            row_key="id",
            to='"{{ row.name }}" <{{ row.email }}>',
            subject="Statement {{ row.id }} for {{ dag.dag_id }}",
            text="Hello {{ row.name }}, your balance is {{ row.balance }}.",
            html="<p>Hello <b>{{ row.name }}</b></p>{% for i in range(2) %}<i>{{ i }}</i>{% endfor %}",
            attachments={
                "filename": "statement-{{ row.id }}.csv",
                "content": "id,balance\n{{ row.id }},{{ row.balance }}",
            },
            headers={"X-Customer": "{{ row.id }}"},
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert smtp_server.connections == 1
    assert smtp_server.commands.count("MAIL") == 3
    messages = by_recipient(smtp_server)
    assert sorted(messages) == ["ann@example.org", "bob@example.org", "zoe@example.org"]
    zoe = messages["zoe@example.org"]
    assert zoe["To"].addresses[0].display_name == "Zoë"
    assert zoe["Subject"] == "Statement 9 for merge_basics"
    assert zoe["X-Customer"] == "9"
    assert text_of(zoe) == "Hello Zoë, your balance is 99.90.\n"
    assert text_of(zoe, "html") == "<p>Hello <b>Zoë</b></p><i>0</i><i>1</i>\n"
    (attachment,) = zoe.iter_attachments()
    assert attachment.get_filename() == "statement-9.csv"
    assert attachment.get_payload(decode=True) == b"id,balance\n9,99.90"
    result = xcom_value(dag_run, "merge")
    assert {k: result[k] for k in ("sent", "refused", "failed", "unknown", "skipped", "total")} == {
        "sent": 3, "refused": 0, "failed": 0, "unknown": 0, "skipped": 0, "total": 3,
    }  # fmt: skip
    rows = outcomes_of(result)
    assert list(rows) == ["7", "8", "9"]
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {m.message_id for m in smtp_server.messages} == {r["message_id"] for r in rows.values()}
    assert len({r["message_id"] for r in rows.values()}) == 3


def test_rows_as_lists_with_columns_keyed_by_position_and_a_csv_report(smtp_server, smtp_conn, tmp_path):
    smtp_conn(smtp_server)
    report = tmp_path / "reports" / "merge.csv"
    with make_dag("merge_lists") as dag:
        MailMergeOperator(
            task_id="merge",
            rows=[["ann@example.org", 1], ["bob@example.org", 2]],
            columns=["email", "n"],
            to="{{ row.email }}",
            subject="#{{ row.n }}",
            report_path=str(report),
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert {m.rcpt_tos[0]: m.message["Subject"] for m in smtp_server.messages} == {
        "ann@example.org": "#1",
        "bob@example.org": "#2",
    }
    with report.open(newline="") as file:
        lines = list(csv.reader(file))
    assert lines[0] == ["row_key", "status", "message_id", "try_number", "detail"]
    assert [(r[0], r[1], r[3]) for r in lines[1:]] == [("0", "sent", "1"), ("1", "sent", "1")]
    assert {r[2] for r in lines[1:]} == {m.message_id for m in smtp_server.messages}


ROWS = [{"id": f"c{i}", "email": f"reader{i}@example.org"} for i in range(5)]


def merge_task(**kwargs):
    params = {"task_id": "merge", "rows": ROWS, "row_key": "id", "to": "{{ row.email }}", "subject": "For {{ row.id }}"}
    return MailMergeOperator(**{**params, **kwargs})


class RecordingServer(FaultServer):
    """The test server, also noting when each message was accepted and calling ``on_accept(n)`` for the n-th."""

    def __init__(self, on_accept=None, **kwargs):
        super().__init__(**kwargs)
        self.accepted_at: list[float] = []
        self.on_accept = on_accept

    def _accept(self, received):
        super()._accept(received)
        self.accepted_at.append(time.monotonic())
        if self.on_accept is not None:
            self.on_accept(len(self.accepted_at))


def test_bad_rows_fail_the_task_before_anything_is_sent(smtp_server, smtp_conn, capfd):
    smtp_conn(smtp_server)
    rows = [*ROWS[:2], {"id": "c7", "email": "not an address"}, {"email": "nokey@example.org"}, *ROWS[2:]]
    with make_dag("merge_bad_fail") as dag:
        merge_task(rows=rows, retries=2)
    dag_run = run_dag(dag)

    log = "".join(capfd.readouterr())
    assert task_states(dag_run)["merge"] == ("failed", 1)  # bad input: no retry
    assert smtp_server.connections == 0
    assert "2 of 7 rows cannot be sent, so nothing was sent (on_bad_row='fail')" in log
    assert "c7: to has invalid address: ['not an address']" in log
    assert "#3: row 3 has no column 'id' (row_key)" in log


def test_bad_rows_skipped_are_reported_and_the_others_sent(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    rows = [*ROWS[:2], {"id": "c7", "email": "not an address"}, {"id": "c0", "email": "again@example.org"}]
    with make_dag("merge_bad_skip") as dag:
        merge_task(rows=rows, on_bad_row="skip")
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["reader0@example.org", "reader1@example.org"]
    result = xcom_value(dag_run, "merge")
    assert (result["sent"], result["skipped"]) == (2, 2)
    rows_out = result["outcomes"]
    assert [r[:2] for r in rows_out] == [["c0", "sent"], ["c1", "sent"], ["c7", "skipped"], ["c0", "skipped"]]
    assert rows_out[2][4] == "to has invalid address: ['not an address']."
    assert rows_out[3][4] == "repeats the row_key of an earlier row"


def test_refused_recipients_are_counted_and_the_merge_goes_on(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address="reader1@example.org")
    rows = [*ROWS, {"id": "both", "email": "reader3@example.org, reader1@example.org"}]
    with make_dag("merge_refused") as dag:
        merge_task(rows=rows, max_failures=2)
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert [m.message["Subject"] for m in smtp_server.messages] == ["For c0", "For c2", "For c3", "For c4", "For both"]
    assert smtp_server.messages[-1].rcpt_tos == ["reader3@example.org"]
    result = xcom_value(dag_run, "merge")
    assert (result["sent"], result["refused"]) == (4, 2)
    rows_out = outcomes_of(result)
    assert rows_out["c1"]["status"] == rows_out["both"]["status"] == "refused"
    assert rows_out["c1"]["detail"] == "refused reader1@example.org (550 5.1.1 No such user)"
    assert smtp_server.count(rows_out["both"]["message_id"]) == 1


def test_max_failures_as_a_fraction_stops_the_merge(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    for ghost in ("reader1@example.org", "reader2@example.org"):
        smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address=ghost)
    with make_dag("merge_max_failures") as dag:
        merge_task(max_failures=0.25)  # 5 rows: one failure allowed
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("failed", 1)
    assert [m.message["Subject"] for m in smtp_server.messages] == ["For c0"]  # stopped at the second refusal
    assert smtp_server.commands.count("MAIL") == 3


def test_a_retry_resends_only_what_was_not_accepted_with_the_same_message_ids(smtp_server, smtp_conn):
    smtp_conn(smtp_server, retry_limit=0)
    smtp_server.reply("EOD", "250 2.0.0 OK", times=1)
    smtp_server.reply("EOD", "451 4.3.0 Try again later", times=1)  # the second message, on the first try only
    with make_dag("merge_retry") as dag:
        merge_task(max_failures=0, retries=1, retry_delay=dt.timedelta(0))
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 2)
    (rejected,) = smtp_server.rejected
    assert rejected.message["Subject"] == "For c1"
    assert [m.message["Subject"] for m in smtp_server.messages] == [f"For c{i}" for i in range(5)]
    rows_out = outcomes_of(xcom_value(dag_run, "merge"))
    assert [(k, r["status"], r["try_number"]) for k, r in rows_out.items()] == [
        ("c0", "sent", 1), ("c1", "sent", 2), ("c2", "sent", 2), ("c3", "sent", 2), ("c4", "sent", 2),
    ]  # fmt: skip
    assert rows_out["c1"]["message_id"] == rejected.message_id
    for row in rows_out.values():
        assert smtp_server.count(row["message_id"]) == 1


def test_messages_per_session_and_reconnect_after_the_server_closes_the_session(smtp_conn):
    with RecordingServer() as server:
        # After the 5th message the server closes the session at the next command (as on an idle timeout).
        server.on_accept = lambda n: server.reply("MAIL", "421 4.4.2 Closing, idle too long") if n == 5 else None
        smtp_conn(server)
        rows = [{"id": f"r{i}", "email": f"reader{i}@example.org"} for i in range(9)]
        with make_dag("merge_sessions") as dag:
            merge_task(rows=rows, messages_per_session=4)
        dag_run = run_dag(dag)

        assert task_states(dag_run)["merge"] == ("success", 1)
        assert [m.message["Subject"] for m in server.messages] == [f"For r{i}" for i in range(9)]
        # r0-r3, QUIT; r4, then 421 at r5's MAIL; r5-r7 (the count goes on across the transport's own
        # reconnect: never more than 4 a session), QUIT; r8, QUIT as the task ends.
        assert server.connections == 4
        assert server.commands.count("QUIT") == 3
        assert server.commands.count("MAIL") == 10


def test_connection_lost_after_the_final_dot_is_unknown_and_not_resent(smtp_server, smtp_conn):
    smtp_conn(smtp_server, timeout=2)
    smtp_server.reply("EOD", "250 2.0.0 OK", times=1)
    with make_dag("merge_unknown") as dag:
        merge_task(max_failures=1)
    smtp_server.drop("after_body")  # armed for the first body: aiosmtpd does not record it as accepted
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    rows_out = outcomes_of(xcom_value(dag_run, "merge"))
    assert rows_out["c0"]["status"] == "unknown"
    assert "may or may not have been delivered" in rows_out["c0"]["detail"]
    assert [m.message["Subject"] for m in smtp_server.messages] == [f"For c{i}" for i in range(1, 5)]


def test_max_per_minute_spaces_the_messages_at_the_server(smtp_conn):
    with RecordingServer() as server:
        smtp_conn(server)
        with make_dag("merge_rate") as dag:
            merge_task(max_per_minute=300)  # one every 0.2 s
        dag_run = run_dag(dag)

        assert task_states(dag_run)["merge"] == ("success", 1)
        gaps = [b - a for a, b in zip(server.accepted_at, server.accepted_at[1:], strict=False)]
        assert len(gaps) == 4
        assert min(gaps) > 0.15, gaps


def test_three_sessions_send_every_row_once_within_one_rate_limit(smtp_conn, journal_dir):
    with RecordingServer() as server:
        smtp_conn(server)
        rows = [{"id": f"s{i}", "email": f"reader{i}@example.org"} for i in range(9)]
        with make_dag("merge_three_sessions") as dag:
            merge_task(rows=rows, sessions=3, max_per_minute=300)  # one message every 0.2 s, for the whole task
        dag_run = run_dag(dag)

        assert task_states(dag_run)["merge"] == ("success", 1)
        assert sorted(m.message["Subject"] for m in server.messages) == sorted(f"For s{i}" for i in range(9))
        assert all(server.count(m.message_id) == 1 for m in server.messages)
        assert server.connections == 3
        gaps = [b - a for a, b in itertools.pairwise(sorted(server.accepted_at))]
        assert len(gaps) == 8 and min(gaps) > 0.15, gaps  # spaced across the sessions, not per session
        result = xcom_value(dag_run, "merge")
        assert [row[0] for row in result["outcomes"]] == [f"s{i}" for i in range(9)]  # the report in row order
        assert result["sent"] == 9
    lines = [json.loads(line) for path in journal_dir.rglob("*.journal") for line in path.read_text().splitlines()]
    assert sorted((event, key) for event, key, *_ in lines) == sorted(
        (event, f"s{i}") for i in range(9) for event in ("intent", "accepted")
    )  # one intent and one answer per row, none torn by the sessions writing side by side


def test_messages_per_session_counts_for_each_session(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    rows = [{"id": f"p{i}", "email": f"reader{i}@example.org"} for i in range(8)]
    with make_dag("merge_sessions_budget") as dag:
        merge_task(rows=rows, sessions=2, messages_per_session=2)
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert len(smtp_server.messages) == 8
    dots = [sum(flight.count(".") for flight in flights) for flights in smtp_server.flights]
    assert sum(dots) == 8 and max(dots) == 2  # never more than 2 a connection, however the rows were shared


def test_sessions_out_of_bounds_fail_before_connecting(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with make_dag("merge_sessions_bad") as dag:
        merge_task(sessions=11)
    dag_run = run_dag(dag)
    assert task_states(dag_run)["merge"][0] == "failed"
    assert smtp_server.connections == 0


def test_mapped_chunks_each_run_one_session(smtp_server, smtp_conn):
    from airflow.sdk import task

    from airflow_provider_smtpconn.operators.mail_merge import chunk_rows

    smtp_conn(smtp_server)
    rows = [{"id": f"r{i}", "email": f"reader{i}@example.org"} for i in range(7)]
    with make_dag("merge_mapped") as dag:

        @task
        def chunks():
            return chunk_rows(rows, 3)

        merge = MailMergeOperator.partial(
            task_id="merge", row_key="id", to="{{ row.email }}", subject="For {{ row.id }}"
        )
        merge.expand(rows=chunks())
    dag_run = run_dag(dag)

    states = [(ti.map_index, str(ti.state)) for ti in dag_run.get_task_instances() if ti.task_id == "merge"]
    assert sorted(states) == [(0, "success"), (1, "success"), (2, "success")]
    assert smtp_server.connections == 3
    assert sorted(m.message["Subject"] for m in smtp_server.messages) == sorted(f"For r{i}" for i in range(7))
    assert len({m.message_id for m in smtp_server.messages}) == 7


KILLED_DAG = """
from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

with DAG("merge_killed", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) as dag:
    MailMergeOperator(
        task_id="merge",
        rows=[{{"id": f"k{{i}}", "email": f"reader{{i}}@example.org"}} for i in range({rows})],
        row_key="id",
        to="{{{{ row.email }}}}",
        subject="For {{{{ row.id }}}}",
        max_failures=None,
        retries=1,
    )
"""

CHILD = """
import sys
sys.path.insert(0, {tests!r})
import importlib.util
spec = importlib.util.spec_from_file_location("killed_dag", {dag_file!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from support.airflow_helpers import run_dag
import datetime as dt
when = dt.datetime.fromisoformat({logical_date!r})
run_dag(module.dag, logical_date=when, run_after=when)
print("the merge finished: the worker was not killed", flush=True)
"""


def _same_airflow() -> dict[str, str]:
    """This process's environment, pointing the child at the metadata DB this process uses."""
    from airflow import configuration, settings

    env = dict(os.environ, AIRFLOW_HOME=configuration.AIRFLOW_HOME)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = str(settings.SQL_ALCHEMY_CONN)
    return env


def test_a_worker_killed_mid_merge_then_retried_sends_every_row_exactly_once(smtp_conn, tmp_path):
    """A worker process is killed (SIGKILL) by the server as it accepts the 3rd message, before the 250 reaches
    the worker; the retry skips the two accepted rows, reports the third as unknown, and sends the rest."""
    import importlib.util

    dag_file = tmp_path / "killed_dag.py"
    dag_file.write_text(KILLED_DAG.format(rows=6))
    logical_date = "2026-02-01T00:00:00+00:00"
    child: list[subprocess.Popen] = []

    def kill_on_third(n: int) -> None:
        if n == 3:
            os.kill(child[0].pid, signal.SIGKILL)

    with RecordingServer(on_accept=kill_on_third) as server:
        smtp_conn(server)
        script = CHILD.format(tests=str(Path(__file__).parents[1]), dag_file=str(dag_file), logical_date=logical_date)
        proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_same_airflow()
        )
        child.append(proc)
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == -signal.SIGKILL, output.decode(errors="replace")[-3000:]
        assert [m.message["Subject"] for m in server.messages] == ["For k0", "For k1", "For k2"]

        spec = importlib.util.spec_from_file_location("killed_dag", dag_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        server.on_accept = None
        when = dt.datetime.fromisoformat(logical_date)
        dag_run = run_dag(module.dag, logical_date=when, run_after=when)  # the same run: its task is retried

        assert task_states(dag_run)["merge"][0] == "success"  # dag.test() re-runs a cleared task as try 1
        subjects = [m.message["Subject"] for m in server.messages]
        assert subjects == [f"For k{i}" for i in range(6)]  # every row exactly once
        rows_out = outcomes_of(xcom_value(dag_run, "merge"))
        assert [(k, r["status"]) for k, r in rows_out.items()] == [
            ("k0", "sent"), ("k1", "sent"), ("k2", "unknown"), ("k3", "sent"), ("k4", "sent"), ("k5", "sent"),
        ]  # fmt: skip
        assert "no answer was recorded" in rows_out["k2"]["detail"]
        assert rows_out["k2"]["message_id"] == server.messages[2].message_id
        for message in server.messages:
            assert server.count(message.message_id) == 1
        killed = server.flights[0]  # pipelined: k3's envelope went in the write that carried k2's final dot
        assert killed[1] == ["MAIL", "RCPT", "DATA"] and killed[2] == [".", "MAIL", "RCPT", "DATA"]
        assert killed[-1] == [".", "MAIL", "RCPT", "DATA"]  # k2's dot, k3's envelope: k3 was sent on the retry


def test_rows_from_sql_in_batches(smtp_server, smtp_conn, monkeypatch, tmp_path):
    import sqlite3

    db_file = tmp_path / "people.db"
    with sqlite3.connect(db_file) as db:
        db.execute("CREATE TABLE people (id INTEGER, email TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?)", [(i, f"p{i}@example.org") for i in range(5)])
        db.execute("INSERT INTO people VALUES (5, 'broken')")
    monkeypatch.setenv("AIRFLOW_CONN_PEOPLE_DB", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    smtp_conn(smtp_server)
    with make_dag("merge_sql") as dag:
        MailMergeOperator(
            task_id="merge",
            sql="SELECT id, email FROM people WHERE id >= :low ORDER BY id",
            parameters={"low": 1},
            conn_id="people_db",
            batch_size=2,
            row_key="id",
            to="{{ row.email }}",
            subject="Person {{ row.id }}",
            on_bad_row="skip",
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert [m.message["Subject"] for m in smtp_server.messages] == [f"Person {i}" for i in range(1, 5)]
    result = xcom_value(dag_run, "merge")
    assert (result["sent"], result["skipped"]) == (4, 1)
    assert result["outcomes"][-1][:2] == ["5", "skipped"]
