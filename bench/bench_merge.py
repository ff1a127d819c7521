"""The mail merge cases: 10,000 personalised messages (case 5), and peak memory against the row count (case 6).

Every contender renders the same Jinja templates once per row (subject, greeting, a small table):

* ``ours``: ``MailMergeOperator.execute`` (both passes: every row checked, then sent; the journal written per
  message), rows as an XCom list (case 5) or from a SQLite query through common-sql (case 6).
* ``official``: a loop over ``SmtpHook.send_email_smtp`` on one session (its hook takes ``html_content`` only,
  so its messages have no plain-text part), the templates compiled once and rendered per row.
* ``stdlib``: the transport floor: every message rendered and flattened to bytes before the clock starts, then
  sent with ``smtplib.SMTP.sendmail`` on one connection (case 5); rendered and sent row by row (case 6).
"""

from __future__ import annotations

import gc
import itertools
import os
import sqlite3
import time
from types import SimpleNamespace
from typing import Any

from bench_cases import OFFICIAL_CONN, OURS_CONN, SENDER, SENDER_DISPLAY, PeakMeter, _port, _status_kib

SQLITE_CONN = "sqlite_bench"
SUBJECT = "Your summary for {{ row.month }}, {{ row.name }}"
TEXT = """Hello {{ row.name }},

your account {{ row.number }} had {{ row.orders }} orders in {{ row.month }}, {{ row.total }} EUR in total.

  orders   {{ row.orders }}
  returns  {{ row.returns }}
  total    {{ row.total }} EUR

Regards,
The data team"""
HTML = """<html><body><p>Hello <b>{{ row.name }}</b>,</p>
<p>your account {{ row.number }} had {{ row.orders }} orders in {{ row.month }}.</p>
<table border="1"><tr><th>orders</th><th>returns</th><th>total</th></tr>
<tr><td>{{ row.orders }}</td><td>{{ row.returns }}</td><td>{{ row.total }} EUR</td></tr></table>
<p>Regards,<br>The data team</p></body></html>"""
_RUNS = itertools.count()
COLUMNS = ("id", "name", "email", "number", "month", "orders", "returns", "total")


def merge_rows(n: int) -> list[dict[str, Any]]:
    """``n`` customer rows of the columns the templates use."""
    return [
        {"id": i, "name": f"Reader {i}", "email": f"reader{i}@example.org", "number": f"AC-{i:06d}",
         "month": "June 2026", "orders": i % 97, "returns": i % 5, "total": f"{(i % 997) * 1.5:.2f}"}
        for i in range(n)
    ]  # fmt: skip


def _ours(tmpdir: str, tag: str, **source: Any) -> int:
    from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

    op = MailMergeOperator(
        task_id=f"merge_{tag}", row_key="id", to="{{ row.email }}", subject=SUBJECT, text=TEXT, html=HTML,
        smtp_conn_id=OURS_CONN, journal_dir=os.path.join(tmpdir, "journal"), **source,
    )  # fmt: skip
    run_id = f"{tag}-{os.getpid()}-{next(_RUNS)}"  # a new run: its journal starts empty
    ti = SimpleNamespace(dag_id="bench", task_id=op.task_id, run_id=run_id, map_index=-1, try_number=1)
    result = op.execute({"ti": ti, "run_id": ti.run_id})  # type: ignore[arg-type]
    return result["sent"]


def _templates() -> tuple[Any, Any, Any]:
    import jinja2

    env = jinja2.Environment()
    return env.from_string(SUBJECT), env.from_string(TEXT), env.from_string(HTML)


def _official(rows: Any) -> int:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    subject, _text, html = _templates()
    sent = 0
    with SmtpHook(smtp_conn_id=OFFICIAL_CONN) as hook:
        for row in rows:
            hook.send_email_smtp(to=row["email"], subject=subject.render(row=row), html_content=html.render(row=row))
            sent += 1
    return sent


def _stdlib_bytes(row: dict[str, Any], templates: tuple[Any, Any, Any]) -> bytes:
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate, make_msgid

    subject, text, html = templates
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = SENDER_DISPLAY, row["email"], subject.render(row=row)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain="example.org")
    msg.set_content(text.render(row=row))
    msg.add_alternative(html.render(row=row), subtype="html")
    return msg.as_bytes()


def _stdlib(prebuilt: list[tuple[str, bytes]]) -> int:
    import smtplib

    with smtplib.SMTP("127.0.0.1", _port(), timeout=60) as smtp:
        for to, data in prebuilt:
            smtp.sendmail(SENDER, [to], data)
    return len(prebuilt)


def case_merge(contender: str, n: int, tmpdir: str) -> dict[str, Any]:
    """Send ``n`` personalised text+html messages; messages/s and client CPU per message."""
    rows, warm = merge_rows(n), merge_rows(20)
    prebuilt: list[tuple[str, bytes]] = []
    if contender == "stdlib":
        templates = _templates()
        _stdlib([(r["email"], _stdlib_bytes(r, templates)) for r in warm])
        prebuilt = [(r["email"], _stdlib_bytes(r, templates)) for r in rows]
    elif contender == "ours":
        _ours(tmpdir, "warm", rows=warm)
    else:
        _official(warm)
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    if contender == "ours":
        sent = _ours(tmpdir, "timed", rows=rows)
    elif contender == "official":
        sent = _official(rows)
    else:
        sent = _stdlib(prebuilt)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "rate": n / seconds, "cpu_ms": cpu * 1000 / n, "sent": sent + len(warm)}


# -- case 6: peak memory against the row count ---------------------------------------------------------------


def _make_db(path: str, n: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE customers ({', '.join(COLUMNS)})")
        db.executemany(f"INSERT INTO customers VALUES ({', '.join('?' * len(COLUMNS))})",
                       (tuple(r[c] for c in COLUMNS) for r in merge_rows(n)))  # fmt: skip
    db.close()


def _db_rows(path: str, limit: int) -> Any:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        cursor = db.execute(f"SELECT * FROM customers ORDER BY id LIMIT {int(limit)}")
        while batch := cursor.fetchmany(1000):
            yield from batch
    db.close()


def _send_from_db(contender: str, path: str, limit: int, tmpdir: str, tag: str) -> int:
    if contender == "ours":
        return _ours(tmpdir, tag, sql=f"SELECT * FROM customers ORDER BY id LIMIT {int(limit)}", conn_id=SQLITE_CONN)
    if contender == "official":
        return _official(_db_rows(path, limit))
    import smtplib

    templates, sent = _templates(), 0
    with smtplib.SMTP("127.0.0.1", _port(), timeout=60) as smtp:
        for row in _db_rows(path, limit):
            smtp.sendmail(SENDER, [row["email"]], _stdlib_bytes(dict(row), templates))
            sent += 1
    return sent


def case_mergemem(contender: str, n: int, size: str, tmpdir: str) -> dict[str, Any]:
    """Peak RSS while sending ``n`` rows read from SQLite (``size`` names which of the two row counts)."""
    import json

    path = os.path.join(tmpdir, f"customers-{os.getpid()}.db")
    _make_db(path, n)
    os.environ[f"AIRFLOW_CONN_{SQLITE_CONN.upper()}"] = json.dumps({"conn_type": "sqlite", "host": path})
    warm = _send_from_db(contender, path, 20, tmpdir, "warm")
    with PeakMeter() as meter:
        sent = _send_from_db(contender, path, n, tmpdir, "timed")
    os.unlink(path)
    total = _status_kib("VmHWM") / 1024
    return {f"{size}_peak_mib": meter.peak_mib, f"{size}_total_mib": total, "seconds": meter.seconds,
            "sent": sent + warm, "n": n}  # fmt: skip
