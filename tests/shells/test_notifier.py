"""SendEmailNotifier in task and DAG callbacks through ``dag.test()``: useful defaults with only ``to``, templates,
and one notifier shared by several tasks."""

from __future__ import annotations

import pytest
from support.airflow_helpers import make_dag, run_dag, task_states

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

pytestmark = pytest.mark.usefixtures("airflow_db")


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_task_failure_callback_sends_a_useful_default_with_only_to(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("notify_task_failure") as dag:

        @task(on_failure_callback=SendEmailNotifier(to="oncall@example.org"))
        def breaks():
            raise ValueError("the source table is empty")

        breaks()
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"breaks": ("failed", 1)}
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["oncall@example.org"]
    subject = received.message["Subject"]
    assert "notify_task_failure.breaks" in subject
    assert "failed" in subject
    text = body(received.message)
    for expected in (
        "DAG: notify_task_failure",
        "Task: breaks",
        f"Run: {dag_run.run_id}",
        "State: failed",
        "Try: 1",
        "the source table is empty",
        "Log: http",
    ):
        assert expected in text


def test_templated_success_callback_with_html(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    notifier = SendEmailNotifier(
        to="team@example.org",
        subject="{{ dag.dag_id }} finished {{ ti.task_id }}",
        html="<p>Run {{ run_id }} ok</p>",
        importance="low",
    )
    with make_dag("notify_success") as dag:

        @task(on_success_callback=notifier)
        def works():
            return 1

        works()
    dag_run = run_dag(dag)

    (received,) = smtp_server.messages
    assert received.message["Subject"] == "notify_success finished works"
    assert received.message["Importance"] == "low"
    assert f"Run {dag_run.run_id} ok" in received.message.get_body(("html",)).get_content()


def test_dag_level_failure_callback(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag(
        "notify_dag_failure", on_failure_callback=SendEmailNotifier(to="oncall@example.org", subject="{{ dag.dag_id }}")
    ) as dag:

        @task
        def breaks():
            raise RuntimeError("boom")

        breaks()
    run_dag(dag)

    (received,) = smtp_server.wait_for(1)
    assert received.message["Subject"] == "notify_dag_failure"
    assert "Run:" in body(received.message)


def test_one_notifier_reused_by_several_tasks_describes_each_task(smtp_server, smtp_conn):
    """The default subject and body are arguments of the send, never written onto the shared notifier."""
    from airflow.sdk import task

    smtp_conn(smtp_server)
    shared = SendEmailNotifier(to="oncall@example.org")
    with make_dag("notify_reused") as dag:

        @task(on_failure_callback=shared)
        def first():
            raise ValueError("first broke")

        @task(on_failure_callback=shared, trigger_rule="all_done")
        def second():
            raise ValueError("second broke")

        first() >> second()
    run_dag(dag)

    subjects = sorted(str(m.message["Subject"]) for m in smtp_server.messages)
    assert len(subjects) == 2
    assert "notify_reused.first" in subjects[0] and "notify_reused.second" in subjects[1]
    assert "second broke" in body(sorted(smtp_server.messages, key=lambda m: str(m.message["Subject"]))[1].message)
    assert shared.subject is None and shared.text is None


def test_a_task_notifier_and_a_dag_notifier_on_one_failure_send_two_message_ids(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag(
        "notify_twice", on_failure_callback=SendEmailNotifier(to="owner@example.org", subject="{{ dag.dag_id }} failed")
    ) as dag:

        @task(on_failure_callback=SendEmailNotifier(to="oncall@example.org"))
        def breaks():
            raise ValueError("broken")

        breaks()
    run_dag(dag)

    ids = [m.message_id for m in smtp_server.messages]
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["oncall@example.org", "owner@example.org"]
    assert len(set(ids)) == 2
