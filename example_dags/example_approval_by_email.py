"""Approval by email: a report is built, an approver gets it with a link to approve, then it is published
(Airflow 3.1+ and the standard provider's human-in-the-loop operators).

What it shows:

* ``build_report`` returns the report as ``{"revenue.csv": "..."}``: a ``{file name: content}`` mapping is one
  attachment per entry.
* ``ApprovalOperator(..., notifiers=[SendEmailNotifier(...)])``: when the task starts waiting for a person it
  calls the notifier, which emails the approvers the report as an attachment and
  ``{{ required_actions_url }}``, the link to this task instance's "Required Actions" page (built by the
  standard provider from ``[api] base_url``). The notifier is templated with the waiting task's context, so
  ``{{ ti.xcom_pull(task_ids='build_report') }}`` fetches the report.
* ``publish`` runs only after someone chose "Approve" on that page; "Reject" skips it. The waiting is
  Airflow's: the task waits in ``awaiting_input`` (Airflow 3.3; deferred on 3.1 and 3.2) until the answer.

Try it: ``airflow dags test example_approval_by_email`` sends the email and waits; answer on the page the
link opens (an api-server on the same metadata database), and ``publish`` runs. It uses the
``smtpconn_default`` connection.
"""

from __future__ import annotations

import datetime as dt

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.version_compat import HUMAN_IN_THE_LOOP, require_airflow

require_airflow(HUMAN_IN_THE_LOOP)  # on Airflow 3.0: one sentence naming 3.1, not an ImportError below

from airflow.providers.standard.operators.hitl import ApprovalOperator  # noqa: E402
from airflow.sdk import DAG, task  # noqa: E402

ask_approvers = SendEmailNotifier(
    to="approvers@example.org",
    subject="Approve the revenue report for {{ ds }}?",
    html=(
        "<p>The revenue report for {{ ds }} is attached ({{ ti.xcom_pull(task_ids='build_report') | length }}"
        " file).</p>"
        '<p><a href="{{ required_actions_url }}">Approve or reject it in Airflow</a></p>'
        "<p>Nothing is published until someone approves.</p>"
    ),
    attachments="{{ ti.xcom_pull(task_ids='build_report') }}",
    smtp_conn_id="smtpconn_default",
)

with DAG(
    dag_id="example_approval_by_email",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example", "smtpconn"],
    doc_md=__doc__,
) as dag:

    @task
    def build_report() -> dict[str, str]:
        rows = [("region", "orders", "revenue"), ("East", 2, "409.90"), ("North", 3, "233.80"), ("South", 2, "100.00")]
        return {"revenue.csv": "".join(",".join(str(cell) for cell in row) + "\n" for row in rows)}

    approve = ApprovalOperator(
        task_id="approve_report",
        subject="Publish the revenue report for {{ ds }}?",
        body="The report is attached to the email; it goes to the finance share once approved.",
        notifiers=[ask_approvers],
    )

    @task
    def publish() -> str:
        return "published"

    build_report() >> approve >> publish()
