"""Attachments built from upstream XComs: text, binary data as base64, rows, an inline chart, and a bundle of files.

What it shows, one TaskFlow task for each kind of content, all sent by one ``SendEmailOperator``:

* ``summary`` returns text: attached as ``summary.txt``.
* ``export_gz`` returns binary data (a gzip file). XCom cannot carry raw ``bytes`` in Airflow 3.3 (the XCom
  serializer raises ``TypeError``), so the task returns the bytes as base64 text and the attachment says
  ``"encoding": "base64"``; the recipient gets the original bytes as ``export.csv.gz`` (``content_type`` given
  explicitly: guessed from the name, ``.csv.gz`` would look like a CSV).
* ``daily_rows`` returns rows (a list of dicts): attached as ``daily.csv``, with the dict keys as the header.
* ``chart_png`` draws a small bar chart PNG from those rows in plain Python (no plotting library) and returns it
  as base64; the attachment has ``"content_id": "chart"`` and the HTML body shows it with ``<img src="cid:chart">``.
* ``bundle`` returns a mapping of file names to content: each entry becomes its own attachment (``notes.md`` as
  text, ``metrics.json`` as JSON).

It uses the ``smtpconn_default`` connection and needs nothing outside this machine.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import struct
import zlib

from airflow.sdk import DAG, task

from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

DAILY = [
    {"day": "2026-01-05", "signups": 12, "revenue": "310.00"},
    {"day": "2026-01-06", "signups": 7, "revenue": "120.50"},
    {"day": "2026-01-07", "signups": 19, "revenue": "402.25"},
    {"day": "2026-01-08", "signups": 4, "revenue": "57.75"},
]


def png_bar_chart(values: list[int], *, bar: int = 12, gap: int = 4, height: int = 48) -> bytes:
    """A tiny RGB PNG with one bar per value, drawn with the standard library only."""
    top = max(values) or 1
    width = gap + len(values) * (bar + gap)
    heights = [round(v / top * (height - gap)) for v in values]
    background, ink = b"\xff\xff\xff", b"\x1f\x77\xb4"
    rows = []
    for y in range(height):
        pixels = bytearray(background * width)
        for i, h in enumerate(heights):
            if y >= height - h:
                x0 = gap + i * (bar + gap)
                pixels[x0 * 3 : (x0 + bar) * 3] = ink * bar
        rows.append(b"\x00" + bytes(pixels))  # filter type 0 for each scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


with DAG(
    dag_id="example_attachments_from_xcom",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as dag:

    @task
    def summary() -> str:
        total = sum(row["signups"] for row in DAILY)
        return f"{len(DAILY)} days, {total} signups.\nBusiest day: {max(DAILY, key=lambda r: r['signups'])['day']}.\n"

    @task
    def export_gz() -> str:
        csv = "day,signups\n" + "".join(f"{row['day']},{row['signups']}\n" for row in DAILY)
        data = gzip.compress(csv.encode(), mtime=0)
        return base64.b64encode(data).decode("ascii")  # XCom cannot carry bytes: send base64 text

    @task
    def daily_rows() -> list[dict]:
        return DAILY

    @task
    def chart_png(rows: list[dict]) -> str:
        return base64.b64encode(png_bar_chart([row["signups"] for row in rows])).decode("ascii")

    @task
    def bundle() -> dict:
        return {
            "notes.md": "# Notes\n\n- signups dipped on 2026-01-08 (holiday)\n",
            "metrics.json": {"days": len(DAILY), "signups": sum(r["signups"] for r in DAILY)},
        }

    rows = daily_rows()
    SendEmailOperator(
        task_id="send",
        to="team@example.org",
        cc="analytics@example.org",
        subject="Weekly signups with attachments from XComs",
        text="Weekly signups: see the attachments. The HTML version shows the chart.",
        html='<p>Weekly signups:</p><p><img src="cid:chart" alt="signups per day"></p>',
        attachments=[
            {"filename": "summary.txt", "content": summary()},
            {
                "filename": "export.csv.gz",
                "content": export_gz(),
                "encoding": "base64",
                "content_type": "application/gzip",
            },
            {"filename": "daily.csv", "content": rows},
            {"filename": "chart.png", "content": chart_png(rows), "encoding": "base64", "content_id": "chart"},
            bundle(),
        ],
    )
