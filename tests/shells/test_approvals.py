"""Approval emails for human-in-the-loop tasks (Airflow 3.1+): the email links to the task's Required Actions page,
the task waits for the answer, and templates get the page's URL.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.airflow_helpers import load_module, serialize_dag_to_db, task_states
from support.messages import plain_body

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


class Approver:
    """The user the Required Actions page would pass to Airflow's response handler."""

    def get_id(self) -> str:
        return "approver-1"

    def get_name(self) -> str:
        return "Ada Approver"


def answer_on_the_required_actions_page(dag_run_id: str, task_id: str, choice: str) -> None:
    """Record an answer the way the Required Actions page does: through Airflow's own HITL response handler."""
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(
            dag_id="example_approval_by_email",
            dag_run_id=dag_run_id,
            task_id=task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[choice]),
            user=Approver(),  # type: ignore[arg-type]
            session=session,
        )


def waiting_task_state(task_id: str, run_id: str) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TaskInstance.state).where(TaskInstance.task_id == task_id, TaskInstance.run_id == run_id)
        )


def end_a_stuck_run(dag_id: str, run_id: str) -> None:
    """If the test fails while ``dag.test()`` still waits for a person, end that run so its thread stops."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).values(state=DagRunState.FAILED)
        )


def approve_when_asked(smtp_server: Any, choice: str, seen: dict[str, Any]) -> None:
    """The approver: wait (bounded) for the email and for the task to wait, then answer on the page it links to."""
    (received,) = smtp_server.wait_for(1, timeout=60)
    seen["received"] = received
    html = received.message.get_body(("html",)).get_content()
    seen["link"] = link = re.search(r'href="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    run_id = seen["run_id"] = re.search(r"/runs/([^/]+)/tasks/", link).group(1)  # type: ignore[union-attr]
    for _ in range(600):  # the notifier runs just before the task parks itself in awaiting_input
        if waiting_task_state("approve_report", run_id) == "awaiting_input":
            break
        time.sleep(0.05)
    seen["waiting_state"] = waiting_task_state("approve_report", run_id)
    seen["publish_before_answer"] = waiting_task_state("publish", run_id)
    answer_on_the_required_actions_page(run_id, "approve_report", choice)


@pytest.mark.parametrize(("choice", "publish_state"), [("Approve", "success"), ("Reject", "skipped")])
def test_approval_email_links_to_the_task_and_publish_waits_for_the_answer(
    smtp_server, smtp_conn, choice, publish_state
):
    """Runs the example with ``dag.test()`` (which must own the main thread) while an "approver" thread waits for
    the email, checks the task waits in ``awaiting_input``, and answers through Airflow's Required Actions
    response handler (what the page calls); ``dag.test()`` then runs (or skips) ``publish``. Where this stops: no
    browser, no api-server process, no login; the handler is called in-process with a stand-in user."""
    smtp_conn(smtp_server)
    dag = load_module(EXAMPLES / "example_approval_by_email.py").dag
    serialize_dag_to_db(dag)
    seen: dict[str, Any] = {}

    def approver() -> None:
        try:
            approve_when_asked(smtp_server, choice, seen)
        except BaseException as exc:  # end the run, or dag.test() would wait for a person forever
            seen["error"] = exc
            if "run_id" in seen:
                end_a_stuck_run("example_approval_by_email", seen["run_id"])

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    dag_run = dag.test()
    thread.join(timeout=60)
    if "error" in seen:
        raise seen["error"]

    message = seen["received"].message
    assert seen["received"].rcpt_tos == ["approvers@example.org"]
    assert seen["link"] == (
        f"http://localhost:8080/dags/example_approval_by_email/runs/{dag_run.run_id}/tasks/approve_report/"
        "required_actions?map_index=-1"
    )
    assert re.fullmatch(r"Approve the revenue report for \d{4}-\d\d-\d\d\?", message["Subject"])
    (report,) = message.iter_attachments()
    assert report.get_filename() == "revenue.csv"
    assert report.get_payload(decode=True).splitlines()[:2] == [b"region,orders,revenue", b"East,2,409.90"]
    assert seen["waiting_state"] == "awaiting_input"
    assert seen["publish_before_answer"] is None  # nothing published before the answer
    states = task_states(dag_run)
    assert states["build_report"][0] == "success"
    assert states["approve_report"][0] == "success"
    assert states["publish"][0] == publish_state
    assert len(smtp_server.messages) == 1  # one approval email, not another on resume


def test_required_actions_url_is_offered_to_templates_and_the_default_asks_the_question(smtp_server, smtp_conn):
    from airflow.providers.standard.operators.hitl import HITLOperator
    from airflow.sdk import DAG

    from airflow_provider_smtpconn.notifications.context import WaitingForInput

    smtp_conn(smtp_server)
    with DAG("hitl_direct", schedule=None):
        op = HITLOperator(task_id="choose", subject="Which region?", body="Pick one.", options=["North", "South"])

    class TaskInstanceFacts:
        dag_id, run_id, task_id, map_index, try_number = "hitl_direct", "manual__1", "choose", 3, 1

    asking = SendEmailNotifier(to="a@example.org")
    op.notifiers = [asking]
    context: dict[str, Any] = {"task": op, "task_instance": TaskInstanceFacts(), "ti": TaskInstanceFacts()}
    SendEmailNotifier(to="a@example.org", subject="{{ required_actions_url }}")(context)
    asking(dict(context))
    asking(dict(context, exception=RuntimeError("boom")))  # the same notifier as a failure callback

    templated, default, failure = smtp_server.wait_for(3)
    url = "http://localhost:8080/dags/hitl_direct/runs/manual__1/tasks/choose/required_actions?map_index=3"
    assert templated.message["Subject"] == url
    assert default.message["Subject"] == "[Airflow] hitl_direct.choose needs your input: Which region?"
    text = plain_body(default.message)
    assert text.startswith("Which region?\n\nPick one.\n\nOptions: North, South\n")
    assert f"Respond here: {url}" in text
    assert "Map index: 3" in text
    assert "needs your input" not in failure.message["Subject"]
    assert "boom" in plain_body(failure.message)
    assert WaitingForInput.from_context({"task": object(), "task_instance": object()}) is None
