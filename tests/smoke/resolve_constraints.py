"""Resolve and freeze the constraint file of one Airflow minor for ``make test`` (run by hand, not in CI).

    make dist && python tests/smoke/resolve_constraints.py 3.1.8 2026-03-12

Airflow's own constraint files cannot be fetched from CI, so this makes a set like them here: Airflow writes its
constraints when it releases, so pip considers only what was uploaded before the given day (the day after that
Airflow's upload: ``pip index versions apache-airflow --uploaded-prior-to DAY`` lists it first). A scratch
virtual environment gets ``apache-airflow==VERSION``, the wheel in ``dist/`` with the ``smoke`` extra, WTForms
(Airflow before 3.2 builds connection forms with it; the FAB provider brings it to real deployments) and the
minor's :data:`HOLDS`: upper bounds on releases of that time that break that Airflow, which its own constraint
file would not have let in. ``pip freeze`` without this package becomes
``tests/smoke/constraints-airflow-<minor>.txt``, with the holds and their reasons in its header.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SMOKE = Path(__file__).resolve().parent
CHECKOUT = SMOKE.parents[1]
#: Per minor: requirement -> why the release pip would pick is held back.
HOLDS: dict[str, dict[str, str]] = {
    "3.0": {
        "universal_pathlib<0.3": "ObjectStoragePath of Airflow 3.0 fails on 0.3 ('protocol file ... incompatible')",
    },
    "3.1": {
        "SQLAlchemy<2.1": "Airflow 3.1's models need sqlalchemy.orm.attributes.ScalarAttributeImpl, gone in 2.1",
    },
}


def main(version: str, uploaded_before: str) -> int:
    minor = ".".join(version.split(".")[:2])
    holds = HOLDS.get(minor, {})
    (wheel,) = sorted((CHECKOUT / "dist").glob("airflow_provider_smtpconn-*.whl"))
    with tempfile.TemporaryDirectory(prefix="smtpconn-resolve-") as folder:
        python = Path(folder, "bin", "python")
        subprocess.run([sys.executable, "-m", "venv", folder], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        requirements = [f"apache-airflow=={version}", f"{wheel}[smoke]", "WTForms", *holds]
        when = ["--uploaded-prior-to", f"{uploaded_before}T00:00:00Z"]
        subprocess.run([python, "-m", "pip", "install", "-q", *when, *requirements], check=True)
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude", "airflow-provider-smtpconn"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    header = (
        f"# make test: the smoke suite on Airflow {minor} (its newest patch release, {version}) on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}. Made by\n"
        f"# `python tests/smoke/resolve_constraints.py {version} {uploaded_before}`: the newest releases uploaded\n"
        f"# before {uploaded_before} that Airflow's own requirements allow, with the smoke extra and WTForms, frozen.\n"
        "# Held back, as the release pip would pick breaks this Airflow:\n"
        + "".join(f"#   {hold}: {why}\n" for hold, why in holds.items())
        + ("#   nothing\n" if not holds else "")
    )
    target = SMOKE / f"constraints-airflow-{minor}.txt"
    target.write_text(header + frozen, encoding="utf-8")
    print(f"wrote {target.relative_to(CHECKOUT)} ({len(frozen.splitlines())} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
