"""Shared fixtures: a real SMTP server on loopback, real certificates, and an Airflow home with SQLite.

Airflow reads its configuration when first imported, so the environment is set here, before any test module
imports it: a throwaway AIRFLOW_HOME with a SQLite metadata DB, no example DAGs, connection testing enabled.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from typing import TYPE_CHECKING, Any

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="smtpconn-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")  # empty: dag.test() re-parses it
os.environ.pop("AIRFLOW_CONN_SMTPCONN_DEFAULT", None)

import logging  # noqa: E402

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO

from support.airflow_helpers import connection_json  # noqa: E402
from support.fault_server import BlackHole, FaultServer, closed_port  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import trustme


def pytest_configure(config: pytest.Config) -> None:
    """Our code and tests use Airflow's current APIs: a DeprecatedImportWarning is an error (Airflow's own
    Connection.test_connection still raises one). Added here, after AIRFLOW_HOME is set above, because naming the
    class in pyproject.toml would import Airflow first; Airflow 3.0 has no such class."""
    try:
        from airflow.utils.deprecation_tools import DeprecatedImportWarning  # noqa: F401
    except ImportError:
        return
    config.addinivalue_line("filterwarnings", "error::airflow.utils.deprecation_tools.DeprecatedImportWarning")
    config.addinivalue_line(
        "filterwarnings", "ignore::airflow.utils.deprecation_tools.DeprecatedImportWarning:airflow.models.connection"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A private CA made for this test session."""
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def ca_pem_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The private CA's certificate as a PEM file."""
    path = tmp_path_factory.mktemp("ca") / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def trust_ca(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch, ca_pem_path: str) -> str:
    """Make the test CA part of the 'system store' for this test (as a real CA would be)."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_pem_path)
    return ca_pem_path


# -- SMTP servers ---------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[FaultServer]:
    """A plain SMTP server on 127.0.0.1 that accepts everything."""
    with FaultServer() as server:
        yield server


@pytest.fixture
def starttls_server(server_tls: ssl.SSLContext) -> Iterator[FaultServer]:
    """A server offering STARTTLS with the test CA's certificate, and AUTH for alice/secret-pw."""
    with FaultServer(starttls_context=server_tls, auth={"alice": "secret-pw"}) as server:
        yield server


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A listener that accepts TCP connections and never says a word."""
    with BlackHole() as hole:
        yield hole


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening."""
    return closed_port()


# -- Airflow --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata DB for this session (about a second, once)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def smtp_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an ``smtpconn`` connection through ``AIRFLOW_CONN_<ID>``: ``smtp_conn(server, conn_id=..., **extra)``.

    Defaults suit the loopback test server: ``tls_mode`` none, no retry wait, a short timeout.
    """

    def define(server: object, conn_id: str = "smtpconn_default", *, login=None, password=None, **extra) -> str:
        values = {"tls_mode": "none", "retry_wait": 0, "timeout": 5, "from_email": "Airflow <airflow@example.org>"}
        values.update(extra)
        value = connection_json(server.host, server.port, login=login, password=password, **values)  # type: ignore[attr-defined]
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        return conn_id

    return define


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace ``socket.create_connection``: any attempt to connect is recorded and fails the test, so bad input
    that reached the network would fail instead of sending traffic.
    """
    import socket

    attempts: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"bad input tried to connect to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts
