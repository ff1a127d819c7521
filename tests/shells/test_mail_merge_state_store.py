"""The mail merge's default journal, Airflow's task state store, through real task runs and the metadata DB: a
retry on another worker (its own ``AIRFLOW_HOME``, its own disk) after the first was killed sends nothing twice;
the file journal on each worker's own disk shows the duplicates the README warns about.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.airflow_helpers import fail_as_heartbeat_timeout, resume_run, run_dag, task_states, xcom_value
from support.fault_server import FaultServer

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
TESTS = Path(__file__).parents[1]


class CountingServer(FaultServer):
    """The test server, calling ``on_accept(n)`` as it accepts the n-th message, before its reply goes out."""

    def __init__(self, on_accept=None, **kwargs):
        super().__init__(**kwargs)
        self.on_accept, self.accepted = on_accept, 0

    def _accept(self, received):
        super()._accept(received)
        self.accepted += 1
        if self.on_accept is not None:
            self.on_accept(self.accepted)


def outcomes_of(result) -> dict[str, dict]:
    columns = result["outcome_columns"]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in result["outcomes"]}


def subjects(server) -> list[str]:
    return [m.message["Subject"] for m in server.messages]


def stored_keys(dag_id: str, task_id: str = "merge") -> list[str]:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return sorted(
            session.scalars(
                select(TaskStateStoreModel.key).where(
                    TaskStateStoreModel.dag_id == dag_id, TaskStateStoreModel.task_id == task_id
                )
            )
        )


def merge_dag(dag_id: str, rows: int, **kwargs):
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        MailMergeOperator(
            task_id="merge",
            rows=[{"id": f"k{i}", "email": f"reader{i}@example.org"} for i in range(rows)],
            row_key="id",
            to="{{ row.email }}",
            subject="For {{ row.id }}",
            **{"max_failures": None, **kwargs},
        )
    return dag


def test_the_default_journal_is_the_task_state_store_and_a_retry_resends_only_what_was_not_accepted(
    smtp_server, smtp_conn, capfd, monkeypatch
):
    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    smtp_conn(smtp_server, retry_limit=0)
    smtp_server.reply("EOD", "250 2.0.0 OK", times=1)
    smtp_server.reply("EOD", "451 4.3.0 Try again later", times=1)  # the second message, on the first try only
    dag = merge_dag("merge_store_retry", 5, max_failures=0, retries=1, retry_delay=dt.timedelta(0))
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 2)
    assert subjects(smtp_server) == [f"For k{i}" for i in range(5)]
    rows = outcomes_of(xcom_value(dag_run, "merge"))
    assert [(k, r["status"], r["try_number"]) for k, r in rows.items()] == [
        ("k0", "sent", 1), ("k1", "sent", 2), ("k2", "sent", 2), ("k3", "sent", 2), ("k4", "sent", 2),
    ]  # fmt: skip
    assert rows["k0"]["message_id"] == smtp_server.messages[0].message_id  # read back from the store
    assert stored_keys("merge_store_retry") == ["smtpconn.mail-merge.0", "smtpconn.mail-merge.1"]  # one per try
    log = "".join(capfd.readouterr())
    assert "Mail merge journal: Airflow's task state store, at most 50 rows in doubt; 0 rows done" in log
    assert "on this worker's own disk" not in log


def test_the_journal_outlives_a_clear_and_nothing_is_sent_again(smtp_server, smtp_conn, monkeypatch):
    from airflow.serialization.definitions.dag import SerializedDAG
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    smtp_conn(smtp_server)
    dag = merge_dag("merge_store_clear", 3)
    dag_run = run_dag(dag)
    assert task_states(dag_run)["merge"] == ("success", 1)
    assert len(smtp_server.messages) == 3

    SerializedDAG.clear_dags([DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))])
    again = resume_run(dag, dag_run.run_id)  # the cleared task runs again in the same DAG run

    assert task_states(again)["merge"] == ("success", 2)
    assert len(smtp_server.messages) == 3  # nothing twice
    rows = outcomes_of(xcom_value(again, "merge"))
    assert {(r["status"], r["try_number"]) for r in rows.values()} == {("sent", 1)}


def test_journal_dir_selects_the_file_journal(smtp_server, smtp_conn, tmp_path, monkeypatch):
    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    smtp_conn(smtp_server)
    dag_run = run_dag(merge_dag("merge_store_file", 2, journal_dir=str(tmp_path / "journal")))

    assert task_states(dag_run)["merge"] == ("success", 1)
    assert len(list((tmp_path / "journal").rglob("*.journal"))) == 1
    assert stored_keys("merge_store_file") == []


def test_without_a_task_state_store_the_file_journal_says_once_what_to_set(smtp_server, smtp_conn, capfd, monkeypatch):
    from airflow_provider_smtpconn import version_compat as versions

    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    monkeypatch.setattr(versions, "has_task_state_store", lambda: False)  # as on Airflow 3.0 to 3.2
    smtp_conn(smtp_server)
    dag_run = run_dag(merge_dag("merge_store_older", 3))

    assert task_states(dag_run)["merge"] == ("success", 1)
    log = "".join(capfd.readouterr())
    assert log.count("on this worker's own disk") == 1
    assert (
        "which a retry on another worker cannot see (it would send accepted rows again): with a distributed "
        "executor set journal_dir (or SMTPCONN_MAIL_MERGE_JOURNAL_DIR) to storage every worker mounts, or "
        "upgrade to Airflow 3.3 for the task state store." in log
    )
    assert stored_keys("merge_store_older") == []


def test_which_airflow_has_a_task_state_store():
    from airflow_provider_smtpconn.version_compat import has_task_state_store

    assert has_task_state_store(installed="3.2.4") is False
    assert has_task_state_store(installed="3.3.0rc1") is True
    assert has_task_state_store() is True  # the Airflow these tests run on


# -- a worker killed mid-merge, the retry on another worker ------------------------------------------------------

WORKER_DAG = """
from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) as dag:
    MailMergeOperator(
        task_id="merge",
        rows=[{{"id": f"k{{i}}", "email": f"reader{{i}}@example.org"}} for i in range({rows})],
        row_key="id",
        to="{{{{ row.email }}}}",
        subject="For {{{{ row.id }}}}",
        max_failures=None,
        journal_batch_size={batch},
        retries=1,
        retry_delay=dt.timedelta(0),
    )
"""

WORKER = """
import importlib.util, sys
sys.path.insert(0, {tests!r})
from support.airflow_helpers import resume_run, run_dag
spec = importlib.util.spec_from_file_location("worker_dag", {dag_file!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if {run_id!r}:
    resume_run(module.dag, {run_id!r})
else:
    run_dag(module.dag)
print("the worker finished its task", flush=True)
"""


def start_worker(home: Path, dag_file: Path, *, run_id: str = "", journal_on_disk: bool) -> subprocess.Popen:
    """A worker process with an ``AIRFLOW_HOME`` and a disk of its own; only the metadata DB is shared."""
    from airflow import settings

    home.mkdir(exist_ok=True)
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=str(settings.SQL_ALCHEMY_CONN))
    env.pop("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", None)
    if journal_on_disk:
        env["SMTPCONN_MAIL_MERGE_JOURNAL_DIR"] = str(home / "journal")
    script = WORKER.format(tests=str(TESTS), dag_file=str(dag_file), run_id=run_id)
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=home
    )


def run_id_of(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (run_id,) = session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id))
        return run_id


@pytest.mark.parametrize("journal", ["task state store", "file journal on each worker's disk"])
def test_a_worker_killed_mid_merge_then_retried_on_another_worker(journal, smtp_conn, tmp_path):
    """Worker A is killed (SIGKILL) by the server as it accepts the 6th message, before the 250 reaches it; the
    scheduler's part (the heartbeat timeout) sets the task up for retry; worker B runs the retry."""
    dag_id = "merge_killed_" + ("store" if journal == "task state store" else "disk")
    dag_file = tmp_path / "worker_dag.py"
    dag_file.write_text(textwrap.dedent(WORKER_DAG.format(dag_id=dag_id, rows=12, batch=4)))
    workers: list[subprocess.Popen] = []
    on_disk = journal != "task state store"

    def kill_worker_a(n: int) -> None:
        if n == 6:
            os.kill(workers[0].pid, signal.SIGKILL)

    with CountingServer(on_accept=kill_worker_a) as server:
        smtp_conn(server)
        workers.append(start_worker(tmp_path / "worker-a", dag_file, journal_on_disk=on_disk))
        output, _ = workers[0].communicate(timeout=240)
        assert workers[0].returncode == -signal.SIGKILL, output.decode(errors="replace")[-3000:]
        assert subjects(server) == [f"For k{i}" for i in range(6)]

        server.on_accept = None
        run_id = run_id_of(dag_id)
        fail_as_heartbeat_timeout(dag_id, run_id, "merge")
        workers.append(start_worker(tmp_path / "worker-b", dag_file, run_id=run_id, journal_on_disk=on_disk))
        output, _ = workers[1].communicate(timeout=240)
        assert workers[1].returncode == 0, output.decode(errors="replace")[-3000:]

        dag_run = SimpleNamespace(dag_id=dag_id, run_id=run_id)
        rows = outcomes_of(xcom_value(dag_run, "merge"))
        received = subjects(server)
        if on_disk:  # worker B cannot see worker A's journal: the first six rows go out a second time
            assert sorted(received) == sorted([f"For k{i}" for i in range(6)] * 2 + [f"For k{i}" for i in range(6, 12)])
            assert {r["status"] for r in rows.values()} == {"sent"}
            return
        # Steps of 2 rows, each named a step ahead (journal_batch_size 4). k5's reply never came and k4's outcome
        # was to go with the next write: both in doubt. k2 and k3 too if the write started at k4 (their outcomes,
        # and the names of k6 and k7) had not reached the store when the worker died; then the retry sends k6
        # and k7. Either way: at most 4 rows in doubt, reported unknown, none resent, every other row once.
        unknown = {k for k, r in rows.items() if r["status"] == "unknown"}
        assert {"k4", "k5"} <= unknown <= {"k2", "k3", "k4", "k5", "k6", "k7"} and len(unknown) <= 4, unknown
        assert all(server.count(m.message_id) == 1 for m in server.messages)
        before_kill = {f"k{i}" for i in range(6)}
        assert sorted(received) == sorted(f"For {k}" for k in rows if k not in unknown or k in before_kill)
        tries = {k: (r["status"], r["try_number"]) for k, r in rows.items() if k not in unknown}
        assert {tries[k] for k in tries if k in before_kill} == {("sent", 1)}
        assert {tries[k] for k in tries if k not in before_kill} == {("sent", 2)}
        assert "no answer was recorded" in rows["k5"]["detail"]
        assert not list(tmp_path.rglob("*.journal"))  # no worker wrote a journal file


def test_the_worker_dag_imports(tmp_path):
    dag_file = tmp_path / "worker_dag.py"
    dag_file.write_text(WORKER_DAG.format(dag_id="merge_import", rows=2, batch=4))
    spec = importlib.util.spec_from_file_location("worker_dag", dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dag.task_dict["merge"].journal_batch_size == 4


def test_a_bad_journal_batch_size_fails_before_anything_is_sent(smtp_server, smtp_conn, capfd, monkeypatch):
    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    smtp_conn(smtp_server)
    dag_run = run_dag(merge_dag("merge_store_bad_batch", 2, journal_batch_size=0))

    assert task_states(dag_run)["merge"][0] == "failed"
    assert smtp_server.connections == 0
    assert "journal_batch_size 0 is not a whole number from 1 to 10000." in "".join(capfd.readouterr())


def test_the_example_merge_dag_with_more_customers(smtp_server, smtp_conn, monkeypatch, tmp_path):
    monkeypatch.delenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", raising=False)
    smtp_conn(smtp_server)
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "db")}))
    example = TESTS.parent / "example_dags" / "example_mail_merge.py"
    spec = importlib.util.spec_from_file_location("example_mail_merge", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_run = run_dag(module.dag, run_conf={"customers": 7})

    assert task_states(dag_run)["send_statements"] == ("success", 1)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(
        ["ada@example.org", "grace@example.org", "zoe@example.org"] + [f"customer{i}@example.org" for i in range(4, 8)]
    )
    assert stored_keys("example_mail_merge", "send_statements") == ["smtpconn.mail-merge.0"]
