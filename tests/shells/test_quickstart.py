"""The quickstart: ``scripts/demo.py`` (what ``make demo`` runs after installing) sends a real email with a real
``airflow dags test`` to a real ``smtpconn sink``, prints what arrived, and leaves no server running."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def sink_processes(marker: str) -> list[str]:
    """Command lines of running ``... sink ...`` processes that mention ``marker`` (from /proc: Linux)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = [a.decode(errors="replace") for a in cmdline.read_bytes().split(b"\0")]
        except OSError:
            continue
        if "sink" in args and any(marker in a for a in args):
            found.append(" ".join(args))
    return found


@pytest.mark.slow
def test_demo_sends_the_report_and_stops_the_sink(tmp_path):
    demo_dir = tmp_path / "demo"
    # Leftovers of an earlier run: the demo wipes the directory first, so it can always be rerun.
    (demo_dir / "maildir" / "new").mkdir(parents=True)
    (demo_dir / "maildir" / "new" / "old-message").write_bytes(b"Subject: from an earlier run\n\nold\n")
    (demo_dir / "airflow-home").mkdir()
    (demo_dir / "airflow-home" / "airflow.db").write_bytes(b"not a database")
    result = subprocess.run(
        [sys.executable, str(DEMO), "--dir", str(demo_dir)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    assert "Subject:     Revenue by region (" in out
    assert "Recipients:  reports@example.org" in out
    assert "Attachments: report.csv" in out
    assert "1 email(s) received" in out
    (stored_line,) = [line for line in out.splitlines() if line.strip().startswith("Stored in:")]
    stored = Path(stored_line.split("Stored in:", 1)[1].strip())
    assert stored.parent == demo_dir / "maildir" / "new"
    assert list(stored.parent.iterdir()) == [stored]  # the earlier run's message is gone
    message = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    (csv_part,) = list(message.iter_attachments())
    assert csv_part.get_filename() == "report.csv"
    assert csv_part.get_payload(decode=True).startswith(b"region,orders,revenue\r\nEast,2,4609.9\r\n")
    assert "Inline:      image-" in out  # the chart, shown in the body

    assert (demo_dir / "sink.log").read_text().splitlines()[-1] == "smtpconn sink stopped after 1 message(s)."
    if Path("/proc/self/cmdline").exists():
        assert sink_processes(str(demo_dir)) == []


def test_demo_help():
    result = subprocess.run([sys.executable, str(DEMO), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--dir" in result.stdout
