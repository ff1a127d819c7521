"""A mail merge: one personalised email per customer, each with their own CSV statement, over one SMTP session.

What it shows:

* ``SQLExecuteQueryOperator`` (common-sql) creates a small SQLite database of customers and their invoices:
  three, or as many as the run's ``customers`` parameter asks for (``-c '{"customers": 500}'``).
* ``MailMergeOperator`` runs a query over it through the same connection (fetched in batches) and sends one
  email per row: ``to``, ``subject``, the bodies and the attachment are Jinja templates rendered once per row,
  which they see as ``row``. Every row is checked before the first message goes out; each row's Message-ID is
  derived from its ``id``, and a journal records which rows the server accepted, so a retry never sends a row
  twice, on whichever worker it runs (Airflow's task state store keeps the journal).
* ``list_unsubscribe`` gives every message its customer's one-click unsubscribe link (``List-Unsubscribe`` and
  ``List-Unsubscribe-Post``, RFC 8058), which Gmail and Yahoo ask of bulk senders.
* The task returns the counts and each row's outcome (with its Message-ID) as its XCom.

Connections (nothing outside this machine is needed):

* ``smtpconn_default`` (type ``smtpconn``): where the emails go. ``make demo`` points it at ``smtpconn sink``.
* ``example_sqlite`` (type ``sqlite``): the database file the DAG creates and queries; its host is the file path,
  for example ``AIRFLOW_CONN_EXAMPLE_SQLITE='{"conn_type": "sqlite", "host": "/tmp/example_customers.db"}'``.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param

from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

SQLITE_CONN_ID = "example_sqlite"

CREATE_CUSTOMERS = [
    "DROP TABLE IF EXISTS invoices",
    "DROP TABLE IF EXISTS customers",
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, plan TEXT NOT NULL)",
    "CREATE TABLE invoices (customer_id INTEGER NOT NULL, day TEXT NOT NULL, amount NUMERIC NOT NULL)",
    """INSERT INTO customers (id, name, email, plan) VALUES
        (1, 'Ada Lovelace', 'ada@example.org', 'Pro'),
        (2, 'Grace Hopper', 'grace@example.org', 'Team'),
        (3, 'Zoë Ångström', 'zoe@example.org', 'Free')""",
    """INSERT INTO invoices (customer_id, day, amount) VALUES
        (1, '2026-01-03', 120.50), (1, '2026-01-17', 80.00), (2, '2026-01-09', 42.25),
        (3, '2026-01-21', 0.00), (2, '2026-01-30', 57.75)""",
    # More customers when the run asks for them, each with one invoice.
    """INSERT INTO customers (id, name, email, plan)
        WITH RECURSIVE n(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM n WHERE i < {{ params.customers }})
        SELECT i, 'Customer ' || i, 'customer' || i || '@example.org', 'Free'
        FROM n WHERE i <= {{ params.customers }}""",
    "INSERT INTO invoices (customer_id, day, amount) SELECT id, '2026-01-15', 10.00 FROM customers WHERE id > 3",
]

# One row per customer; the invoice lines travel as one text column the attachment template splits.
STATEMENTS = """
    SELECT c.id, c.name, c.email, c.plan,
           COUNT(i.day) AS invoices,
           printf('%.2f', SUM(i.amount)) AS total,
           GROUP_CONCAT(i.day || ',' || printf('%.2f', i.amount), ';') AS lines
    FROM customers c JOIN invoices i ON i.customer_id = c.id
    GROUP BY c.id
    ORDER BY c.id
"""

STATEMENT_HTML = """\
<p>Dear {{ row.name }},</p>
<p>your {{ row.plan }} plan had {{ row.invoices }} invoice(s) this month, {{ row.total }} EUR in total;
the attached statement-{{ row.id }}.csv lists them.</p>
<p>Run {{ run_id }} of {{ dag.dag_id }}.</p>
"""

STATEMENT_CSV = "day,amount\n{% for line in row.lines.split(';') %}{{ line }}\n{% endfor %}"

with DAG(
    dag_id="example_mail_merge",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example", "smtpconn"],
    doc_md=__doc__,
    params={"customers": Param(3, type="integer", minimum=3, maximum=100_000, description="How many customers.")},
) as dag:
    create_customers = SQLExecuteQueryOperator(
        task_id="create_customers",
        conn_id=SQLITE_CONN_ID,
        sql=CREATE_CUSTOMERS,
        do_xcom_push=False,
    )

    send_statements = MailMergeOperator(
        task_id="send_statements",
        sql=STATEMENTS,
        conn_id=SQLITE_CONN_ID,
        row_key="id",
        to='"{{ row.name }}" <{{ row.email }}>',
        subject="Your statement for {{ dag_run.run_after.strftime('%B %Y') }}",
        text="Dear {{ row.name }}, your statement ({{ row.total }} EUR) is attached.",
        html=STATEMENT_HTML,
        attachments={"filename": "statement-{{ row.id }}.csv", "content": STATEMENT_CSV},
        # One-click unsubscribe (RFC 8058), which Gmail and Yahoo ask of bulk senders: a link per customer.
        list_unsubscribe="https://example.org/statements/unsubscribe?customer={{ row.id }}",
        messages_per_session=100,
    )

    create_customers >> send_statements
