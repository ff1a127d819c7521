"""A report after a data job: run a SQL query, then email its rows as a CSV attachment with an HTML summary.

What it shows:

* ``SQLExecuteQueryOperator`` (common-sql) creates a small SQLite database of orders, then runs a query that sums
  them by region. The query's rows go to XCom.
* ``SendEmailOperator`` attaches those rows as ``report.csv`` (the ``columns`` give the header line) and writes an
  HTML body with the row count and the first rows as a table, rendered with Jinja from the same XCom.

Connections (nothing outside this machine is needed):

* ``smtpconn_default`` (type ``smtpconn``): where the email goes. ``make demo`` points it at ``smtpconn sink``.
* ``example_sqlite`` (type ``sqlite``): the database file the DAG creates and queries; its host is the file path,
  for example ``airflow connections add example_sqlite --conn-type sqlite --conn-host /tmp/example_orders.db``
  or ``AIRFLOW_CONN_EXAMPLE_SQLITE='{"conn_type": "sqlite", "host": "/tmp/example_orders.db"}'``.

Recipients come from the ``to`` param: ``airflow dags test example_report_after_sql -c '{"to": "me@example.org"}'``.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param

from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

SQLITE_CONN_ID = "example_sqlite"
COLUMNS = ["region", "orders", "revenue"]

CREATE_ORDERS = [
    "DROP TABLE IF EXISTS orders",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT NOT NULL, amount NUMERIC NOT NULL)",
    """INSERT INTO orders (region, amount) VALUES
        ('North', 120.50), ('North', 80.00), ('South', 42.25), ('East', 310.00),
        ('East', 99.90), ('West', 15.00), ('South', 57.75), ('North', 33.30)""",
]

REVENUE_BY_REGION = """
    SELECT region, COUNT(*) AS orders, printf('%.2f', SUM(amount)) AS revenue
    FROM orders
    GROUP BY region
    ORDER BY SUM(amount) DESC
"""

SUMMARY_HTML = """\
{%- set rows = ti.xcom_pull(task_ids='revenue_by_region') -%}
<h2>Revenue by region</h2>
{%- set shown = [params.preview_rows, rows | length] | min %}
<p>{{ rows | length }} rows ({{ rows | sum(attribute=1) }} orders); the first {{ shown }} below,
all of them in the attached report.csv.</p>
<table border="1" cellpadding="4" cellspacing="0">
  <tr>{% for name in params.columns %}<th>{{ name }}</th>{% endfor %}</tr>
  {%- for row in rows[:params.preview_rows] %}
  <tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>
  {%- endfor %}
</table>
<p>Run {{ run_id }} of {{ dag.dag_id }}.</p>
"""

with DAG(
    dag_id="example_report_after_sql",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    params={
        "to": Param("reports@example.org", type="string", description="Who gets the report."),
        "preview_rows": Param(3, type="integer", minimum=1, description="Rows shown in the email body."),
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

    send_report = SendEmailOperator(
        task_id="send_report",
        to="{{ params.to }}",
        subject="Revenue by region ({{ dag_run.run_after | ds }})",
        html=SUMMARY_HTML,
        attachments={"filename": "report.csv", "content": revenue_by_region.output, "columns": COLUMNS},
    )

    create_orders >> revenue_by_region >> send_report
