"""A small Airflow deployment on this machine, started and stopped by the distributed suite.

* PostgreSQL (Debian's server binaries, no service manager): the metadata database, and the Celery broker and
  result backend (Celery's SQLAlchemy transport over the same server).
* The Airflow components, each a process of its own with its own ``AIRFLOW_HOME``: ``db migrate``, the API
  server, the scheduler (``CeleryExecutor``), the DAG processor, and Celery workers with host names of their own
  (``worker_identity.hostname``). What they share: the DAG folder, the metadata database and the broker.

Everything binds 127.0.0.1 and every wait is bounded. :meth:`Cluster.stop` kills every process tree it started
(the task processes under the workers too); each child also gets ``SIGKILL`` from the kernel if the test process
itself dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (Debian's layout), or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def _child_setup(user: pwd.struct_passwd | None) -> Any:
    def setup() -> None:
        os.setsid()
        if user is not None:  # the PostgreSQL server refuses to run as root
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it

    return setup


def wait_for(what: str, check: Any, timeout: float, *, every: float = 0.5, alive: tuple[Any, ...] = ()) -> Any:
    """Call ``check()`` until it returns something true (returned) or ``timeout`` seconds pass (``TimeoutError``).
    Processes in ``alive`` that exit meanwhile stop the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for process in alive:
            if process.poll() is not None:
                raise RuntimeError(f"{process.name} exited ({process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(every)


class Process:
    """One started process: its name, ``subprocess.Popen``, and log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, user: Any = None) -> None:
        self.name, self.log = name, log
        self._file = log.open("ab")
        self.popen = subprocess.Popen(
            args, env=env, stdout=self._file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_child_setup(user), cwd=log.parent,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill_tree(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to this process and every process under it (task processes have groups of their own)."""
        import psutil

        try:
            parent = psutil.Process(self.pid)
            tree = [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            tree = []
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                proc.send_signal(sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        psutil.wait_procs(tree, timeout=10)

    def close(self) -> None:
        if self.poll() is None:
            self.kill_tree(signal.SIGTERM)
        if self.poll() is None:
            self.kill_tree(signal.SIGKILL)
        self.kill_tree(signal.SIGKILL)  # whatever it left behind
        self._file.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Postgres:
    """A PostgreSQL server of the suite's own: a fresh data folder, 127.0.0.1 only, no durability (a test)."""

    def __init__(self, root: Path) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed (make test-distributed installs them)")
        # A folder of its own under the system's temporary folder: as root, the server runs as the postgres user,
        # which must reach it (a test's own temporary folder is private to root).
        self.root, self.port = Path(tempfile.mkdtemp(prefix="smtpconn-postgres-")), free_port()
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        data = self.root / "data"
        initdb = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
            capture_output=True, text=True, timeout=120, preexec_fn=_child_setup(self.user), check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout[-2000:]}\n{initdb.stderr[-2000:]}")
        self.process = Process(
            "postgres",
            [str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.root), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            dict(os.environ), self.root / "postgres.log", self.user,
        )  # fmt: skip
        wait_for("PostgreSQL accepting connections", self._ready, 60, alive=(self.process,))
        self.execute("CREATE DATABASE airflow", database="postgres")

    def url(self, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://postgres@127.0.0.1:{self.port}/airflow"

    def _ready(self) -> bool:
        try:
            self.execute("SELECT 1", database="postgres")
        except Exception:
            return False
        return True

    def execute(self, sql: str, *args: Any, database: str = "airflow") -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement without a result)."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args or None)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.kill_tree(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        self.process.close()
        shutil.rmtree(self.root, ignore_errors=True)


class Cluster:
    """Airflow with the CeleryExecutor over :class:`Postgres`. ``start()``, then ``worker(name)`` for each worker.

    :param root: A folder of the suite's own (homes, logs, the database).
    :param dags: The DAG folder every component reads.
    :param env: Extra environment for every component (connections, say).
    """

    def __init__(self, root: Path, dags: Path, env: dict[str, str]) -> None:
        self.root, self.dags = root, dags
        self.processes: dict[str, Process] = {}
        self.postgres: Postgres | None = None
        self.api_port = free_port()
        self.killed: str | None = None  # the worker a test killed
        self._env = env

    def environment(self, name: str) -> dict[str, str]:
        """The environment of component ``name``: its own ``AIRFLOW_HOME``; the shared DAG folder and database."""
        assert self.postgres is not None
        home = self.root / "homes" / name
        home.mkdir(parents=True, exist_ok=True)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SMTPCONN_"))}
        return {
            **keep,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": self._secrets["fernet"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_identity.hostname",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(),
            "AIRFLOW__CELERY__BROKER_URL": self.postgres.url("sqla+postgresql+psycopg2"),
            "AIRFLOW__CELERY__RESULT_BACKEND": self.postgres.url("db+postgresql+psycopg2"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__API__SECRET_KEY": self._secrets["api"],
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets["jwt"],
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "SMTPCONN_WORKER_NAME": name,
            **self._env,
        }

    def start(self) -> None:
        """The database, ``db migrate``, then the API server, scheduler and DAG processor (workers: :meth:`worker`)."""
        from cryptography.fernet import Fernet

        self._secrets = {"fernet": Fernet.generate_key().decode(), "api": secrets.token_hex(16),
                         "jwt": secrets.token_hex(32)}  # fmt: skip
        self.postgres = Postgres(self.root)
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=self.environment("migrate"),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
        self._create_celery_tables()
        self._start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"])
        self._start("scheduler", ["scheduler"])
        self._start("dag-processor", ["dag-processor"])
        wait_for("API server", self._api_healthy, 120, alive=tuple(self.processes.values()))

    def _create_celery_tables(self) -> None:
        """The broker's and the result backend's tables, made once before any process uses them: kombu's SQLAlchemy
        transport and Celery's database backend create theirs on first use, and two processes starting together
        race to (``relation "queue_id_sequence" already exists``).
        """
        code = (
            "import sys\n"
            "from celery.backends.database.session import SessionManager\n"
            "from kombu import Connection\n"
            "with Connection(sys.argv[1]) as connection:\n"
            "    connection.SimpleQueue('default').close()\n"
            "SessionManager().session_factory(sys.argv[2])\n"
        )
        env = self.environment("celery-tables")
        urls = [env["AIRFLOW__CELERY__BROKER_URL"], env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+")]
        made = subprocess.run([sys.executable, "-c", code, *urls], env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"creating the Celery broker's tables failed:\n{made.stderr[-3000:]}")

    def worker(self, name: str) -> Process:
        """Start a Celery worker named ``name`` (its host name too), one task at a time."""
        return self._start(name, ["celery", "worker", "--concurrency", "1", "--skip-serve-logs",
                                  "--celery-hostname", f"{name}@127.0.0.1"])  # fmt: skip

    def airflow(self, *args: str, timeout: float = 120) -> str:
        """Run one ``airflow`` command (as a user would, in a home of its own); its output."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.environment("cli"), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def _start(self, name: str, args: list[str]) -> Process:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        process = Process(name, [sys.executable, "-m", "airflow", *args], self.environment(name), log)
        self.processes[name] = process
        return process

    def _api_healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=5) as r:
                return json.load(r).get("metadatabase", {}).get("status") == "healthy"
        except OSError:
            return False

    def logs(self) -> str:
        """The last lines of every component's log, for a failure's message."""
        return "\n".join(f"--- {name} ---\n{p.tail()}" for name, p in self.processes.items())

    def stop(self) -> None:
        """Kill every process tree started (workers first), then stop the database."""
        for process in reversed(list(self.processes.values())):
            process.close()
        if self.postgres is not None:
            self.postgres.stop()
