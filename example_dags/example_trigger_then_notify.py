"""Trigger-then-notify: an upstream DAG updates an Asset; a DAG scheduled on that Asset sends the email.

What it shows:

* ``example_asset_producer`` refreshes a (local) orders extract and declares ``outlets=[ORDERS]``: each success
  records an Asset event.
* ``example_asset_consumer`` has ``schedule=[ORDERS]``: the scheduler starts it after every update of the Asset.
  It reads ``triggering_asset_events`` (who updated the Asset, when) and emails a notice with ``SendEmailOperator``.
* ``SendEmailNotifier`` as ``on_failure_callback``: the producer's task fails on purpose when the DAG param
  ``fail_on_purpose`` is true (``airflow dags test example_asset_producer -c '{"fail_on_purpose": true}'``), and the
  notifier emails on-call with the DAG, task, run, try and the exception. Nothing is retried and the Asset is not
  updated, so the consumer does not run.

Try it: ``airflow dags test example_asset_consumer`` runs the consumer alone (a manual run has no Asset events;
the email says so). ``airflow dags test`` runs one DagRun, so it does not start the consumer after the producer:
the scheduler does that.

It uses the ``smtpconn_default`` connection and needs nothing outside this machine: the "extract" is a small
file written to the system's temporary directory.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

ORDERS = Asset(name="example_orders", uri="file:///tmp/smtpconn-example/orders.csv")

notify_oncall = SendEmailNotifier(
    to="oncall@example.org",
    subject="[Airflow] {{ ti.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }})",
    importance="high",
    # no text/html: the notifier's default body lists DAG, task, run, state, try, exception and log URL
)

with DAG(
    dag_id="example_asset_producer",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    params={"fail_on_purpose": Param(False, type="boolean", description="Make refresh_orders fail, to see the alert.")},
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as producer:

    @task(outlets=[ORDERS], on_failure_callback=notify_oncall, retries=0)
    def refresh_orders(params: dict | None = None) -> int:
        import tempfile
        from pathlib import Path

        if params and params.get("fail_on_purpose"):
            raise RuntimeError("refresh_orders failed on purpose (fail_on_purpose=true)")
        rows = ["id,region,amount", "1,North,120.50", "2,South,42.25", "3,East,310.00"]
        path = Path(tempfile.gettempdir(), "smtpconn-example", "orders.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(rows) + "\n")
        return len(rows) - 1

    refresh_orders()


with DAG(
    dag_id="example_asset_consumer",
    schedule=[ORDERS],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as consumer:

    @task
    def describe_updates(triggering_asset_events=None) -> str:
        lines = []
        for asset, events in (triggering_asset_events or {}).items():
            for event in events:
                source = f"{event.source_dag_id}.{event.source_task_id}" if event.source_dag_id else "an API call"
                lines.append(f"{getattr(asset, 'name', asset)} was updated by {source} at {event.timestamp}.")
        return "\n".join(lines) or "A manual run: no Asset event triggered it."

    SendEmailOperator(
        task_id="notify",
        to="team@example.org",
        subject="Orders are fresh: {{ dag.dag_id }} ran",
        text=describe_updates(),
    )
