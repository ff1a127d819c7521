"""The wings' rule: ``message/``, ``smtp/`` and ``connection/`` import no Airflow, and work without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_smtpconn"
WINGS = ("message", "smtp", "connection")

# Runs in a fresh interpreter where every ``airflow`` import fails, as on a machine without Airflow.
WITHOUT_AIRFLOW = """
import importlib, pkgutil, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(name + ": Airflow is not installed here")
        return None

sys.meta_path.insert(0, NoAirflow())
import airflow_provider_smtpconn

for wing in {wings!r}:
    package = importlib.import_module(f"airflow_provider_smtpconn.{{wing}}")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"airflow_provider_smtpconn.{{wing}}.{{module.name}}")

from airflow_provider_smtpconn.message.compose import compose
from airflow_provider_smtpconn.message.request import EmailRequest
from airflow_provider_smtpconn.smtp.session import SmtpSession
from airflow_provider_smtpconn.smtp.settings import SmtpSettings

message = compose(EmailRequest(from_email="a@example.org", to="b@example.org", subject="no airflow", text="x"))
with SmtpSession(SmtpSettings(host="127.0.0.1", port={port}, tls_mode="none", retry_wait=0)) as session:
    print(session.send(message).message_id)
assert not [name for name in sys.modules if name == "airflow" or name.startswith("airflow.")]
"""


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize("wing", WINGS)
def test_no_module_of_the_wing_imports_airflow(wing):
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "airflow")
        for path in sorted((PACKAGE / wing).glob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_wings_compose_and_send_where_airflow_is_not_installed(smtp_server):
    code = WITHOUT_AIRFLOW.format(wings=WINGS, port=smtp_server.port)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    (received,) = smtp_server.messages
    assert received.message["Subject"] == "no airflow"
    assert received.message_id == done.stdout.strip()
