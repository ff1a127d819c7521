"""Case 7, the report in the body: 100,000 query rows shown as a 50-row table, every row attached as CSV.

The rows are case 4's (10 columns of what an XCom carries, already in memory), and each contender builds and
sends one message with the first 50 rows as an HTML table and all of them as ``rows.csv``:

* ``ours``: ``email_table(rows, columns=..., max_rows=50, csv="rows.csv")`` (what ``{{ rows | email_table(...) }}``
  does in a template), its HTML as the body and its CSV spec as the attachment, through the operator's send path
  (the text part derived from the HTML, as for any HTML-only message).
* ``official``: the hook's ``html_content`` with the table written by hand (``html.escape`` per cell) and the CSV
  written to disk first (its hook attaches files only).
* ``stdlib``: the same hand-written table and the CSV in memory, with the ``email`` package and ``smtplib``.

Target: ours' peak RSS within 10% of ours in case 4, the CSV alone (reported when both cases run).
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Any

from bench_cases import (
    OFFICIAL_CONN,
    RECIPIENT,
    _ours_operator,
    _ours_send,
    _stdlib_message,
    _stdlib_send,
    make_rows,
    measure_send,
)

SHOWN = 50
COLUMNS = ["id", "customer", "amount", "at", "flagged", "note_id", "currency", "note", "points", "status"]

METRICS = [
    ("peak_mib", "peak RSS above baseline (MiB)", False),
    ("heap_mib", "Python heap peak (MiB, tracemalloc)", False),
    ("seconds", "table + CSV + build + send time (s)", False),
]


def title(rows: int) -> str:
    """The case's line in the report table."""
    return f"8. {rows:,} rows: {SHOWN}-row table + CSV"


def _by_hand(rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows[:SHOWN]
    )
    return f"<table><tr>{head}</tr>{body}</table><p>and {len(rows) - SHOWN:,} more rows (all in rows.csv)</p>"


def _send_report(contender: str, rows: list[list[Any]], csv_path: Path) -> None:
    if contender == "ours":
        from airflow_provider_smtpconn import email_table

        table = email_table(rows, columns=COLUMNS, max_rows=SHOWN, csv="rows.csv")
        op = _ours_operator("report", [table.attachment])
        op.html = f"<h2>Nightly rows</h2>{table.html}"  # what rendering the template sets
        _ours_send(op, ("bench", "report"))
    elif contender == "official":
        with csv_path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        body = f"<h2>Nightly rows</h2>{_by_hand(rows)}"
        with SmtpHook(smtp_conn_id=OFFICIAL_CONN) as hook:
            hook.send_email_smtp(to=RECIPIENT, subject="Report", html_content=body, files=[str(csv_path)])
        csv_path.unlink()
    else:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        msg = _stdlib_message("Report", f"<h2>Nightly rows</h2>{_by_hand(rows)}")
        msg.add_attachment(buffer.getvalue().encode("utf-8"), maintype="text", subtype="csv", filename="rows.csv")
        del buffer
        _stdlib_send([(msg, RECIPIENT)])


def case_report(contender: str, n: int, tmpdir: str) -> dict[str, Any]:
    """Build and send the report of ``n`` rows (a warm-up of 10 rows first loads everything imported lazily)."""
    csv_path = Path(tmpdir, f"report-{os.getpid()}.csv")
    _send_report(contender, make_rows(SHOWN + 10), csv_path)
    rows = make_rows(n)
    return measure_send(
        lambda: _send_report(contender, rows, csv_path), lambda: _send_report(contender, rows, csv_path)
    )


def target(report: dict[str, float], rows: dict[str, float] | None) -> str:
    """The target line: ours' peak RSS here against ours in case 4 (``rows``), within 10%."""
    if not rows:
        return "- 8. ours' peak RSS within 10% of case 4's: not measured (run case 4, rows, too)."
    growth = report["ours"] / rows["ours"] - 1 if rows["ours"] else float("inf")
    verdict = "met" if growth <= 0.10 else "MISSED"
    return (
        f"- 8. ours' peak RSS within 10% of case 4's (the CSV alone): {verdict} ({rows['ours']:.1f} -> "
        f"{report['ours']:.1f} MiB, {growth:+.1%}; official {report['official']:.1f} MiB, stdlib "
        f"{report['stdlib']:.1f} MiB)."
    )
