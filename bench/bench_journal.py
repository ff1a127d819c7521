"""Case 7: the mail merge's journal in Airflow's task state store against the file journal.

Each contender runs ``MailMergeOperator`` as a real task, as a worker runs it: ``dag.test(use_executor=True)``
with the ``LocalExecutor``, so the task runs in a process of its own under the Task SDK's supervisor, which calls
an ``airflow api-server`` process started for the case (on 127.0.0.1), over a SQLite metadata DB. Every store
write is what it costs a worker: a message to the supervisor, an HTTP call, a database commit. The rows and
templates are case 5's; each repetition runs in a fresh interpreter, contenders interleaved; the figure is the
operator's ``execute`` (both passes), messages/s.

* ``store``: the default journal, the task state store, at most 50 rows in doubt (``journal_batch_size``): a
  write per 25 rows, each made ahead of the rows it names, on a thread of its own;
* ``store-10``: the same with ``journal_batch_size=10``: a write per 5 rows;
* ``file``: the file journal (``journal_dir``), one ``write()`` per event.

Run by ``bench/run.py`` (``--cases journal``); as a script, ``python bench/bench_journal.py '<job JSON>'`` is the
child that runs one job (the task writes its figures to ``$BENCH_JOURNAL_RESULT``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONTENDERS = ("store", "store-10", "file")
BATCH = {"store": 50, "store-10": 10}
TIMEOUT = 600  # seconds for one child
SETTLE = 30  # seconds a child may take to end after its task wrote the result

DAG_FILE = """
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

sys.path.insert(0, {bench!r})
from bench_merge import HTML, SUBJECT, TEXT, merge_rows  # case 5's rows and templates

from airflow.sdk import DAG

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator


class TimedMerge(MailMergeOperator):
    def execute(self, context):
        start, cpu = time.perf_counter(), time.process_time()
        result = super().execute(context)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        figures = {{"seconds": seconds, "cpu": cpu, "sent": result["sent"], "total": result["total"],
                    "waited": getattr(self.journal, "waited", 0.0)}}
        with open(os.environ["BENCH_JOURNAL_RESULT"], "w") as file:
            json.dump(figures, file)
        return result

    def _open_journal(self, context, identity):
        self.journal = super()._open_journal(context, identity)
        return self.journal


journal = json.loads(os.environ.get("BENCH_JOURNAL", "{{}}"))
with DAG("bench_journal", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) as dag:
    TimedMerge(
        task_id="merge", rows=merge_rows(int(os.environ.get("BENCH_JOURNAL_ROWS", "20"))), row_key="id",
        to="{{{{ row.email }}}}", subject=SUBJECT, text=TEXT, html=HTML, smtp_conn_id="smtpconn_bench",
        max_failures=0, **journal,
    )
"""


def run_case(runner: Any) -> list[str]:
    """Run the case with ``runner`` (``bench/run.py``'s: config, sink, env, tmpdir); the report's lines."""
    cfg, tmpdir = runner.config, Path(runner.tmpdir)
    rows = max(20, cfg.merge_n // 2)
    dags = tmpdir / "journal-dags"
    dags.mkdir(exist_ok=True)
    (dags / "bench_journal_dag.py").write_text(DAG_FILE.format(bench=str(HERE)))
    env = {**runner.env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "BENCH_JOURNAL_ROWS": str(rows)}
    with _api_server(env, tmpdir) as env:
        return _run_jobs(runner, env, rows)


def _run_jobs(runner: Any, env: dict[str, str], rows: int) -> list[str]:
    cfg, tmpdir = runner.config, Path(runner.tmpdir)
    warm = 0 if cfg.batch_children else 1  # a first round warms the DB and the page cache, not kept
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    for rep in range(cfg.reps["journal"] + warm):
        for index, contender in enumerate(CONTENDERS):
            job = {"job": "run", "contender": contender, "minute": rep * 10 + index, "tmpdir": str(tmpdir)}
            before = runner.sink.count()[0]
            result = _run_child(env, job, tmpdir)
            delivered = runner.sink.count()[0] - before
            if not delivered == result["sent"] == rows:
                raise RuntimeError(f"journal/{contender}: {rows} rows, {result['sent']} sent, {delivered} received")
            if rep >= warm:
                results[contender].append(result)
                print(f"  journal {contender:8} {result['rate']:.0f} msg/s", file=sys.stderr, flush=True)
    return _report(results, rows, cfg.reps["journal"])


def _run_child(env: dict[str, str], job: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its result, as the task wrote it. The child and everything it started
    (the executor's worker processes) are killed when it ends: ``LocalExecutor.end()`` in Airflow 3.3.2 can wait
    forever for an idle worker after the run is over, so a child is given :data:`SETTLE` seconds after the result.
    """
    result_file = tmpdir / f"journal-result-{job['job']}-{job.get('minute', 0)}.json"
    result_file.unlink(missing_ok=True)
    with (tmpdir / "journal-child.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), json.dumps(job)],
            env={**env, "BENCH_JOURNAL_RESULT": str(result_file)},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_own_session,
        )  # fmt: skip
        deadline, written = time.monotonic() + TIMEOUT, None
        while proc.poll() is None and time.monotonic() < deadline:
            if written is None and result_file.exists():
                written = time.monotonic()
            if written is not None and time.monotonic() - written > SETTLE:
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    if not result_file.exists() or (proc.returncode not in (0, -signal.SIGKILL)):
        raise RuntimeError(f"bench_journal child failed ({proc.returncode}) for {job}; see {log.name}")
    result = json.loads(result_file.read_text())
    if job["job"] == "run":
        result.update(rate=result["sent"] / result["seconds"], cpu_ms=result["cpu"] * 1000 / result["sent"])
    return result


@contextlib.contextmanager
def _api_server(env: dict[str, str], tmpdir: Path) -> Any:
    """The metadata DB, then an API server on 127.0.0.1 for the case; yields the tasks' environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    }
    _run_child(env, {"job": "init"}, tmpdir)
    with (tmpdir / "journal-api-server.log").open("wb") as log:
        args = ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        server = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_own_session,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not _healthy(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API server did not start; see {log.name}")
                time.sleep(0.5)
            yield env
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)  # the server and its worker process
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


def _own_session() -> None:
    """In the API server before it starts: a process group of its own (stopped as one), killed with the bench."""
    import ctypes

    os.setsid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: if the bench dies, so does the server


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _report(results: dict[str, list[dict[str, Any]]], rows: int, reps: int) -> list[str]:
    rate = {c: statistics.median(r["rate"] for r in runs) for c, runs in results.items()}
    lines = [
        f"11. mail merge journal, {rows:,} rows as a real task (LocalExecutor, API server, SQLite), "
        f"{reps} repetitions:",
        "",
        "| journal | messages/s | client CPU per message (ms) | store writes | waited for the store (s) | vs file |",
        "|---|---|---|---|---|---|",
    ]
    for contender, runs in results.items():
        low, high = min(r["rate"] for r in runs), max(r["rate"] for r in runs)
        cpu = statistics.median(r["cpu_ms"] for r in runs)
        writes = f"{-(-rows // max(1, BATCH[contender] // 2)) + 1:,}" if contender in BATCH else "-"
        lines.append(
            f"| {contender} | {rate[contender]:,.0f} [{low:,.0f}-{high:,.0f}] | {cpu:.3f} | {writes} | "
            f"{statistics.median(r['waited'] for r in runs):.2f} | {rate[contender] / rate['file']:.2f}x |"
        )
    ok = rate["store"] >= 0.9 * rate["file"]
    lines += [
        "",
        f"Target 11: the task state store journal >= 0.9x the file journal's messages/s: "
        f"{'met' if ok else 'MISSED'} ({rate['store'] / rate['file']:.2f}x; with journal_batch_size=10: "
        f"{rate[CONTENDERS[1]] / rate['file']:.2f}x).",
    ]
    return lines


def _run(job: dict[str, Any]) -> None:
    """In the child: one job; the task writes its result to ``$BENCH_JOURNAL_RESULT``."""
    import datetime as dt
    import importlib.util

    if job["job"] == "init":
        from airflow.utils import db

        db.initdb()
        Path(os.environ["BENCH_JOURNAL_RESULT"]).write_text("{}")
        return
    contender, tmpdir = job["contender"], Path(job["tmpdir"])
    journal: dict[str, Any] = {"journal_dir": str(tmpdir / "journal")} if contender == "file" else {}
    if contender in BATCH:
        journal["journal_batch_size"] = BATCH[contender]
    os.environ["BENCH_JOURNAL"] = json.dumps(journal)  # read by the DAG file, in the task's process too
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "bench_journal_dag.py")
    spec = importlib.util.spec_from_file_location("bench_journal_dag", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=job["minute"])  # a run each
    dag_run = module.dag.test(logical_date=when, run_after=when, use_executor=True)
    if str(dag_run.state) != "success":
        raise RuntimeError(f"the bench DAG run ended {dag_run.state}")


if __name__ == "__main__":
    _run(json.loads(sys.argv[1]))
