"""The quickstart (``make demo``): a real Airflow DAG sends a real email to a local SMTP sink.

1. Make a throwaway Airflow home in ``.demo/`` (wiped first, so the demo can be rerun) with a SQLite metadata DB
   (``airflow db migrate``).
2. Start ``smtpconn sink`` on 127.0.0.1 (a free port), storing messages in ``.demo/maildir``.
3. Define the connections in the environment of the Airflow commands only: ``AIRFLOW_CONN_SMTPCONN_DEFAULT`` (the
   sink) and ``AIRFLOW_CONN_EXAMPLE_SQLITE`` (a SQLite file in ``.demo/``).
4. Run ``airflow dags test example_report_after_sql`` with ``example_dags/`` as the DAGs folder.
5. Stop the sink (always, also on failure or Ctrl-C) and print what arrived.

Exit code 0 if an email arrived, 1 if not. ``--dir`` puts the demo somewhere else than ``.demo/``.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import mailbox
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "example_report_after_sql"
SINK_START_TIMEOUT = 30.0
MIGRATE_TIMEOUT = 300.0
DAG_TEST_TIMEOUT = 600.0
SINK_STOP_TIMEOUT = 10.0


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def run_logged(command: list[str], env: dict[str, str], log: Path, timeout: float) -> bool:
    """Run ``command`` with its output in ``log``; on failure show the log's tail. True if it exited 0."""
    with log.open("wb") as out:
        try:
            result = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"    timed out after {timeout:.0f} s: {' '.join(command)}", file=sys.stderr)
            returncode = None
        else:
            returncode = result.returncode
    if returncode == 0:
        return True
    tail = log.read_text(errors="replace").splitlines()[-40:]
    print(f"    failed (exit {returncode}): {' '.join(command)}; last lines of {log}:", file=sys.stderr)
    print("\n".join(f"    | {line}" for line in tail), file=sys.stderr)
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the sink gets SIGTERM if this script dies without stopping it (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_sink(maildir: Path, log: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``smtpconn sink`` on 127.0.0.1 and a free port; return the process and the port."""
    command = [sys.executable, "-m", "airflow_provider_smtpconn.cli", "sink"]
    command += ["--host", "127.0.0.1", "--port", "0", "--maildir", str(maildir)]
    out = log.open("wb")
    try:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        out.close()
    deadline = time.monotonic() + SINK_START_TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if match:
            return process, int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop_sink(process)
    raise RuntimeError(f"the SMTP sink did not start; its output:\n{log.read_text(errors='replace')}")


def stop_sink(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within SINK_STOP_TIMEOUT seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(SINK_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(SINK_STOP_TIMEOUT)


def report(maildir: Path) -> int:
    """Print every message in ``maildir``; return how many there are."""
    box = mailbox.Maildir(maildir, create=False)
    keys = sorted(box.keys())
    for key in keys:
        path = maildir / ("new" if (maildir / "new" / key).exists() else "cur") / key
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        names = [part.get_filename() for part in message.walk() if part.get_filename() and not part["Content-ID"]]
        inline = [part.get_filename() for part in message.walk() if part.get_filename() and part["Content-ID"]]
        print(f"    Subject:     {message['Subject']}")
        print(f"    From:        {message['From']}")
        print(f"    Recipients:  {message['X-Smtpconn-Envelope-To']}")
        print(f"    Attachments: {', '.join(names) or '(none)'}")
        if inline:
            print(f"    Inline:      {', '.join(inline)} (shown in the HTML body)")
        print(f"    Stored in:   {path}")
        csv_part = next((p for p in message.walk() if p.get_filename() == "report.csv"), None)
        if csv_part is not None:
            print("    report.csv:")
            for line in csv_part.get_content().splitlines():
                print(f"      {line}")
    return len(keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / ".demo", help="the throwaway directory (default: .demo/)")
    args = parser.parse_args(argv)
    demo = args.dir.resolve()
    started = time.monotonic()

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the sink is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    say(f"Fresh Airflow home in {demo} (SQLite)")
    shutil.rmtree(demo, ignore_errors=True)
    home, maildir = demo / "airflow-home", demo / "maildir"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONUNBUFFERED": "1",
        }
    )
    airflow = [sys.executable, "-m", "airflow"]
    if not run_logged([*airflow, "db", "migrate"], env, demo / "db-migrate.log", MIGRATE_TIMEOUT):
        return 1

    say(f"Starting the SMTP sink (smtpconn sink), storing into {maildir}")
    sink, port = start_sink(maildir, demo / "sink.log", env)
    try:
        print(f"    listening on 127.0.0.1:{port}", flush=True)
        env["AIRFLOW_CONN_SMTPCONN_DEFAULT"] = json.dumps(
            {
                "conn_type": "smtpconn",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"tls_mode": "none", "from_email": "Airflow demo <airflow@example.org>", "timeout": 10},
            }
        )
        env["AIRFLOW_CONN_EXAMPLE_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(demo / "orders.db")})
        say(f"airflow dags test {DAG_ID}  (log: {demo / 'dags-test.log'})")
        dag_ok = run_logged([*airflow, "dags", "test", DAG_ID], env, demo / "dags-test.log", DAG_TEST_TIMEOUT)
    finally:
        stop_sink(sink)
    say("Sink stopped. It printed:")
    for line in (demo / "sink.log").read_text(errors="replace").splitlines():
        print(f"    | {line}")

    say(f"What arrived in {maildir}:")
    count = report(maildir)
    elapsed = time.monotonic() - started
    if count == 0:
        print(f"\nNo email arrived (the DAG run {'succeeded' if dag_ok else 'failed'}); see the logs in {demo}.")
        return 1
    print(f"\n{count} email(s) received in {elapsed:.0f} s. The DAG run {'succeeded' if dag_ok else 'FAILED'}.")
    return 0 if dag_ok else 1


if __name__ == "__main__":
    sys.exit(main())
