"""Deadline Alerts: email when a DAG run is not done 30 minutes after it was queued (Airflow 3.1+).

What it shows:

* ``deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(minutes=30),
  callback=AsyncCallback(SendEmailNotifier, kwargs={...}))``: the scheduler records a deadline for each run
  (queued time + 30 minutes); if the run is still going then, the triggerer awaits ``SendEmailNotifier`` with the
  ``kwargs`` and a small context (the run, the deadline; no task instance).
* The default email: the subject and body say which DAG and run missed which deadline, and when, with the run's
  state, queued and start times and a link to the run. ``kwargs`` take any notifier parameter (here ``to``,
  ``importance`` and ``smtp_conn_id``); text values are templates rendered with that context, so
  ``"{{ dag_run.dag_id }}"`` and ``"{{ deadline.deadline_time }}"`` work in a custom subject.
* The send runs in the triggerer without blocking its event loop: the connection is fetched with Airflow's async
  getter, the SMTP session runs in a worker thread.

Try it: set ``work_seconds`` above 1800 (``airflow dags trigger example_deadline_alert -c
'{"work_seconds": 1900}'``) with a scheduler and a triggerer running; a run that ends in time sends nothing.
It uses the ``smtpconn_default`` connection (the triggerer needs it too).
"""

from __future__ import annotations

import datetime as dt

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.version_compat import DEADLINE_ALERTS, require_airflow

require_airflow(DEADLINE_ALERTS)  # on Airflow 3.0: one sentence naming 3.1, not an ImportError below

from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, Param, task  # noqa: E402

with DAG(
    dag_id="example_deadline_alert",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    params={"work_seconds": Param(1, type="integer", minimum=0, description="How long the load takes.")},
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=30),
        callback=AsyncCallback(
            SendEmailNotifier,
            kwargs={"to": "oncall@example.org", "importance": "high", "smtp_conn_id": "smtpconn_default"},
        ),
    ),
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as dag:

    @task
    def load_orders(params: dict | None = None) -> int:
        import time

        time.sleep(int((params or {}).get("work_seconds", 1)))
        return 8

    load_orders()
