"""Run the smoke suite with another interpreter, from a temporary folder outside the checkout.

``make test`` installs the built wheel (not editable) into one virtual environment per Airflow minor and runs
this with that environment's Python::

    python tests/smoke/outside_checkout.py VENV/bin/python tests/smoke/constraints-airflow-3.1.txt

The suite (``tests/smoke``), its fixtures (``tests/conftest.py``) and helpers (``tests/support``) are copied to
the temporary folder and pytest runs there, with no ``PYTHONPATH``: the checkout's package cannot be imported by
accident, and ``test_the_package_is_the_installed_wheel`` proves it. The Airflow version the constraint file pins
is passed on, for ``test_this_is_the_pinned_airflow``. Exits with pytest's exit code; the folder is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CHECKOUT = TESTS.parent
PYTEST_INI = """\
[pytest]
addopts = -p no:cacheprovider
markers =
    slow: end-to-end tests
    smoke: the smoke suite
filterwarnings = ignore::DeprecationWarning
"""


def pinned_airflow(constraints: Path) -> str:
    """The ``apache-airflow==X`` version of a constraint file."""
    (pin,) = re.findall(r"^apache-airflow==(\S+)$", constraints.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return pin


def main(python: str, constraints: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    env.update(
        SMTPCONN_WHEEL_RUN="1",
        SMTPCONN_CHECKOUT=str(CHECKOUT),
        SMTPCONN_PINNED_AIRFLOW=pinned_airflow(Path(constraints)),
    )
    with tempfile.TemporaryDirectory(prefix="smtpconn-smoke-") as folder:
        root = Path(folder)
        shutil.copy(TESTS / "conftest.py", root)
        for package in ("support", "smoke"):
            shutil.copytree(TESTS / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.txt"))
        (root / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
        command = [os.path.abspath(python), "-m", "pytest", "-q", "-m", "smoke", "smoke"]
        return subprocess.run(command, cwd=root, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
