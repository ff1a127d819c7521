"""The mail merge on a real distributed deployment: Airflow with the CeleryExecutor (scheduler, API server, DAG
processor, two Celery workers with host names and ``AIRFLOW_HOME`` folders of their own; PostgreSQL as metadata
database and broker), the example merge DAG, the worker running it killed in the middle of the merge.

The retry runs on the other worker, which shares nothing with the first but the DAG folder, the database and the
broker: no row reaches the server twice. Run by ``make test-distributed`` (``SMTPCONN_DISTRIBUTED_RUN=1``);
skipped in the main run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from cluster import Cluster, wait_for
from support.airflow_helpers import connection_json
from support.fault_server import FaultServer

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(os.environ.get("SMTPCONN_DISTRIBUTED_RUN") != "1", reason="run by make test-distributed"),
]

REPO = Path(__file__).resolve().parents[2]
DAG_ID, TASK_ID, RUN_ID = "example_mail_merge", "send_statements", "distributed-merge"
CUSTOMERS = 150  # rows; the journal's batches (50 rows, the default): 1-50, 51-100, 101-150
KILL_AT = 75  # the worker is killed as the server accepts this message, before its reply goes out


class KillingServer(FaultServer):
    """The test server; ``on_accept(n)`` runs as it accepts the n-th message, before the reply goes out."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.accepted = 0
        self.on_accept = None

    def _accept(self, received: object) -> None:
        super()._accept(received)
        self.accepted += 1
        if self.on_accept is not None:
            self.on_accept(self.accepted)


def customer_of(address: str) -> int:
    named = {"ada@example.org": 1, "grace@example.org": 2, "zoe@example.org": 3}
    return named.get(address) or int(address.removeprefix("customer").removesuffix("@example.org"))


@pytest.fixture
def stop_on_sigterm():
    """``timeout`` (the Makefile's bound) sends SIGTERM: turn it into an exception so teardown still runs."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("stop_on_sigterm")
def test_a_worker_killed_mid_merge_and_the_retry_on_the_other_worker_sends_no_row_twice(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "example_dags" / "example_mail_merge.py", dags)
    with KillingServer() as server:
        smtp = {"tls_mode": "none", "retry_wait": 0, "timeout": 10, "from_email": "Billing <billing@example.org>"}
        env = {
            "AIRFLOW_CONN_SMTPCONN_DEFAULT": connection_json(server.host, server.port, **smtp),
            # The customers' database: a file both workers reach, as they would reach a shared database server.
            "AIRFLOW_CONN_EXAMPLE_SQLITE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "shop.db")}),
        }
        cluster = Cluster(tmp_path / "cluster", dags, env)
        try:
            run_the_merge_and_kill_a_worker(cluster, server)
            check_every_row_at_most_once(cluster, server)
        except Exception as exc:  # the components' last log lines say why
            raise AssertionError(f"{exc}\n{cluster.logs()}") from exc
        finally:
            cluster.stop()


def run_the_merge_and_kill_a_worker(cluster: Cluster, server: KillingServer) -> None:
    cluster.start()
    workers = {name: cluster.worker(name) for name in ("worker-a", "worker-b")}
    killed = threading.Event()

    def kill_the_worker_sending(n: int) -> None:
        if n != KILL_AT:
            return
        (hostname,) = cluster.postgres.execute(
            "SELECT hostname FROM task_instance WHERE dag_id = %s AND task_id = %s AND state = 'running'",
            DAG_ID,
            TASK_ID,
        )[0]
        cluster.killed = hostname
        killed.set()  # first: the test's wait stops watching the workers, one of which is about to die
        workers[hostname].kill_tree()  # SIGKILL: the Celery worker, its pool, the supervisor, the task

    server.on_accept = kill_the_worker_sending
    db = cluster.postgres
    wait_for("the DAG parsed", lambda: db.execute("SELECT 1 FROM dag WHERE dag_id = %s", DAG_ID), 120)
    cluster.airflow("dags", "trigger", DAG_ID, "--run-id", RUN_ID, "--conf", json.dumps({"customers": CUSTOMERS}))
    wait_for(f"message {KILL_AT} and the kill", killed.is_set, 180, alive=tuple(cluster.processes.values()))
    state = wait_for("the DAG run to end", lambda: _finished(cluster), 180)
    assert state == "success", state


def _finished(cluster: Cluster) -> str | None:
    rows = cluster.postgres.execute("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, RUN_ID)
    return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None


def check_every_row_at_most_once(cluster: Cluster, server: KillingServer) -> None:
    db, killed = cluster.postgres, cluster.killed
    other = ({"worker-a", "worker-b"} - {killed}).pop()
    tries = db.execute(
        "SELECT try_number, hostname FROM task_instance_history WHERE dag_id = %s AND run_id = %s AND task_id = %s",
        DAG_ID, RUN_ID, TASK_ID,
    ) + db.execute(
        "SELECT try_number, hostname FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s",
        DAG_ID, RUN_ID, TASK_ID,
    )  # fmt: skip
    assert sorted(tries) == [(1, killed), (2, other)]  # the retry ran on the other worker

    received = [customer_of(m.rcpt_tos[0]) for m in server.messages]
    assert len(received) == len(set(received))  # no row twice
    (value,) = db.execute(
        "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value'",
        DAG_ID, RUN_ID, TASK_ID,
    )[0]  # fmt: skip
    result = json.loads(value) if isinstance(value, str) else value
    status = {int(row[0]): (row[1], row[3]) for row in result["outcomes"]}
    unknown = {i for i, (s, _try) in status.items() if s == "unknown"}
    # Steps of 25 rows, each named a step ahead (journal_batch_size 50): rows 51-75 were sent without a
    # recorded answer; 76-100 were named ahead (unless the write naming them, started at row 51, had not reached
    # the database when the worker died: then the retry sends them). At most 50 rows in doubt, none resent.
    assert set(range(51, KILL_AT + 1)) <= unknown and len(unknown) <= 50, sorted(unknown)
    assert sorted(received) == sorted(i for i in status if i not in unknown or i <= KILL_AT)
    assert {status[i] for i in range(1, 51) if i not in unknown} == {("sent", 1)}
    assert {status[i] for i in range(KILL_AT + 1, CUSTOMERS + 1) if i not in unknown} == {("sent", 2)}
    keys = [k for (k,) in db.execute("SELECT key FROM task_state_store WHERE dag_id = %s ORDER BY key", DAG_ID)]
    assert keys == ["smtpconn.mail-merge.0", "smtpconn.mail-merge.1"]  # one segment per try, in the database
    assert not list(cluster.root.glob("homes/*/smtpconn"))  # no journal on any worker's disk
