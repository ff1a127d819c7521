"""A report after a data job: a SQL query's rows as a table in the body, a chart inline, and every row as a CSV.

What it shows:

* ``SQLExecuteQueryOperator`` (common-sql) creates a small SQLite database of orders, then sums them by region;
  the query's rows go to XCom (a list of rows, as common-sql pushes them).
* ``revenue_chart`` draws a bar chart of those rows as a PNG (with matplotlib when it is installed, else in plain
  Python) and returns it as base64 text: XCom carries text, not bytes or figures.
* ``SendEmailOperator`` writes the report in its HTML template with the package's two helpers:
  ``{{ rows | email_table(columns=..., max_rows=..., csv='report.csv') }}`` draws the first rows as a table
  (numbers right-aligned with thousands separators, every cell escaped) with a line "and 3 more rows (all in
  report.csv)", and attaches every row as ``report.csv``; ``{{ inline_image(chart, alt=...) }}`` shows the chart
  from a ``cid:`` part of the message. The template's ``<style>`` block is moved into ``style`` attributes
  before sending (Gmail drops ``<style>`` blocks), and the plain-text part is derived from the HTML: the same
  table in fixed-width text, the chart by its alt text.

Connections (nothing outside this machine is needed):

* ``smtpconn_default`` (type ``smtpconn``): where the email goes. ``make demo`` points it at ``smtpconn sink``.
* ``example_sqlite`` (type ``sqlite``): the database file the DAG creates and queries; its host is the file path,
  for example ``airflow connections add example_sqlite --conn-type sqlite --conn-host /tmp/example_orders.db``
  or ``AIRFLOW_CONN_EXAMPLE_SQLITE='{"conn_type": "sqlite", "host": "/tmp/example_orders.db"}'``.

Recipients come from the ``to`` param: ``airflow dags test example_report_after_sql -c '{"to": "me@example.org"}'``.
``scripts/render_email.py`` turns the received message into a PNG, as a mail client would show it.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
import zlib

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

SQLITE_CONN_ID = "example_sqlite"
COLUMNS = ["region", "orders", "revenue"]

CREATE_ORDERS = [
    "DROP TABLE IF EXISTS orders",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT NOT NULL, amount NUMERIC NOT NULL)",
    """INSERT INTO orders (region, amount) VALUES
        ('North', 1120.50), ('North', 880.00), ('South', 642.25), ('East', 3310.00), ('East', 1299.90),
        ('West', 415.00), ('South', 557.75), ('North', 233.30), ('Central', 1780.00), ('Central', 99.00),
        ('Coast', 2450.60), ('Highlands', 120.00), ('Islands', 75.40), ('Coast', 310.00), ('West', 1805.10)""",
]

REVENUE_BY_REGION = """
    SELECT region, COUNT(*) AS orders, ROUND(SUM(amount), 2) AS revenue
    FROM orders
    GROUP BY region
    ORDER BY SUM(amount) DESC
"""

REPORT_HTML = """\
<style>
  h2 { font-family: Arial, Helvetica, sans-serif; font-size: 20px; color: #1f2328; margin: 0 0 8px 0; }
  p { font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 20px; color: #1f2328; }
  .muted { color: #57606a; font-size: 12px; }
</style>
{%- set rows = ti.xcom_pull(task_ids='revenue_by_region') %}
<h2>Revenue by region</h2>
<p>{{ rows | length }} regions, {{ rows | sum(attribute=1) }} orders, {{ '{:,.2f}'.format(rows | sum(attribute=2)) }}
in revenue.</p>
{{ inline_image(ti.xcom_pull(task_ids='revenue_chart'), alt='Bar chart: revenue by region') }}
{{ rows | email_table(columns=params.columns, max_rows=params.preview_rows, csv='report.csv') }}
<p class="muted">Run {{ run_id }} of {{ dag.dag_id }}.</p>
"""


def png_bar_chart(values: list[float], *, bar: int = 36, gap: int = 12, height: int = 160) -> bytes:
    """A PNG with one bar per value, drawn with the standard library only (no plotting library needed)."""
    top = max(values) or 1
    width = gap + len(values) * (bar + gap)
    heights = [round(v / top * (height - gap)) for v in values]
    background, ink = b"\xff\xff\xff", b"\x09\x69\xda"
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


def matplotlib_bar_chart(labels: list[str], values: list[float]) -> bytes:
    """The same chart with matplotlib, labelled; ``ImportError`` when matplotlib is not installed."""
    import io

    from matplotlib.figure import Figure  # a Figure without pyplot: no GUI backend, safe in a worker

    figure = Figure(figsize=(7, 2.6))
    axes = figure.subplots()
    axes.bar(labels, values, color="#0969da")
    axes.set_ylabel("revenue")
    axes.tick_params(axis="x", labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=144, bbox_inches="tight")
    return buffer.getvalue()


with DAG(
    dag_id="example_report_after_sql",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    params={
        "to": Param("reports@example.org", type="string", description="Who gets the report."),
        "preview_rows": Param(5, type="integer", minimum=1, description="Rows shown in the email body."),
        "columns": COLUMNS,
    },
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as dag:
    create_orders = SQLExecuteQueryOperator(
        task_id="create_orders",
        conn_id=SQLITE_CONN_ID,
        sql=CREATE_ORDERS,
        do_xcom_push=False,
    )

    revenue_by_region = SQLExecuteQueryOperator(
        task_id="revenue_by_region",
        conn_id=SQLITE_CONN_ID,
        sql=REVENUE_BY_REGION,
    )

    @task
    def revenue_chart(rows: list[list]) -> str:
        labels, values = [row[0] for row in rows], [float(row[2]) for row in rows]
        try:
            png = matplotlib_bar_chart(labels, values)
        except ImportError:
            png = png_bar_chart(values)
        return base64.b64encode(png).decode("ascii")  # XCom carries text: base64, read by inline_image

    send_report = SendEmailOperator(
        task_id="send_report",
        to="{{ params.to }}",
        subject="Revenue by region ({{ dag_run.run_after | ds }})",
        html=REPORT_HTML,
    )

    create_orders >> revenue_by_region
    revenue_chart(revenue_by_region.output) >> send_report
