"""SendEmailNotifier as a Deadline Alert callback (Airflow 3.1+), run in the triggerer: the example DAG's deadline
survives serialisation, a missed deadline sends from the ``CallbackTrigger``, secrets stay masked there, and on
Airflow 3.0 the notifier names the version it needs.

The deadline tests take the path Airflow takes: the example DAG is written to the metadata DB, a run is created
(which records its deadline), the deadline is handled as missed (``Deadline.handle_miss``, what the scheduler
calls), and the ``CallbackTrigger`` the scheduler queued is run in an event loop, as the triggerer runs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from support.airflow_helpers import load_module, serialize_dag_to_db
from support.messages import plain_body

from airflow_provider_smtpconn.exceptions import AirflowVersionError
from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.version_compat import DEADLINE_ALERTS, HUMAN_IN_THE_LOOP, require_airflow

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_deadline_dag_serialises_with_the_callback():
    from airflow.sdk import AsyncCallback
    from airflow.sdk._shared.module_loading import import_string
    from airflow.serialization.decoders import decode_deadline_alert
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_module(EXAMPLES / "example_deadline_alert.py").dag
    wire = json.dumps(DagSerialization.to_dict(dag))  # what the DAG processor stores
    (encoded,) = DagSerialization.from_dict(json.loads(wire)).deadline
    alert = decode_deadline_alert(encoded)

    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert alert.interval == dt.timedelta(minutes=30)
    assert alert.callback == AsyncCallback(
        SendEmailNotifier,
        kwargs={"to": "oncall@example.org", "importance": "high", "smtp_conn_id": "smtpconn_default"},
    )
    assert alert.callback.path == "airflow_provider_smtpconn.notifications.smtp.SendEmailNotifier"
    assert import_string(alert.callback.path) is SendEmailNotifier


def missed_deadline_trigger(dag: Any) -> tuple[Any, Any]:
    """Create a run of ``dag`` from the DB, mark its deadline missed as the scheduler does; return the run and
    the ``CallbackTrigger`` that the triggerer would run."""
    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    serialize_dag_to_db(dag)
    now = dt.datetime.now(dt.timezone.utc)
    with create_session() as session:
        scheduler_dag = SerializedDagModel.get_dag(dag.dag_id, session=session)
        run = scheduler_dag.create_dagrun(
            run_id=f"manual__deadline_{now:%H%M%S%f}",
            logical_date=None,
            data_interval=None,
            run_after=now,
            conf=None,
            run_type=DagRunType.MANUAL,
            state=DagRunState.QUEUED,
            triggered_by=DagRunTriggeredByType.TEST,
            triggering_user_name=None,
            session=session,
        )
        session.flush()
        (deadline,) = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        assert deadline.deadline_time == run.queued_at + dt.timedelta(minutes=30)
        deadline.handle_miss(session)  # what the scheduler does once deadline_time has passed
        session.flush()
        kwargs = deadline.callback.trigger.kwargs
        run_id, deadline_time = run.run_id, deadline.deadline_time
        session.expunge_all()
    session_run = DagRun.find(dag_id=dag.dag_id, run_id=run_id)[0]
    return (session_run, deadline_time), CallbackTrigger(**kwargs)


async def run_trigger(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_missed_deadline_sends_from_the_callback_trigger(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    dag = load_module(EXAMPLES / "example_deadline_alert.py").dag
    (run, deadline_time), trigger = missed_deadline_trigger(dag)
    assert trigger.callback_path == "airflow_provider_smtpconn.notifications.smtp.SendEmailNotifier"
    assert set(trigger.callback_kwargs["context"]) == {"dag_run", "deadline"}  # no task instance

    events = asyncio.run(run_trigger(trigger))

    assert [e["state"] for e in events] == ["running", "success"], events
    (received,) = smtp_server.messages
    message = received.message
    assert received.rcpt_tos == ["oncall@example.org"]
    when = deadline_time.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert message["Subject"] == f"[Airflow] example_deadline_alert: run {run.run_id} missed its deadline ({when})"
    assert message["Importance"] == "high"
    text = plain_body(message)
    assert text.startswith(f"DAG example_deadline_alert, run {run.run_id}, missed its deadline of {when}.\n")
    for line in ("DAG: example_deadline_alert", f"Run: {run.run_id}", f"Deadline: {when}", "Run state: queued"):
        assert line in text.splitlines()
    assert "Queued at: " in text
    assert f"Run page: http://localhost:8080/dags/example_deadline_alert/runs/{run.run_id}" in text


def deadline_context(run_id: str = "scheduled__2026-03-02T06:00:00+00:00") -> dict[str, Any]:
    """A deadline callback's context as the scheduler builds it (the run as JSON, the deadline)."""
    return {
        "dag_run": {
            "dag_run_id": run_id,
            "dag_id": "nightly_orders",
            "queued_at": "2026-03-02T06:00:04.512000Z",
            "start_date": "2026-03-02T06:00:05Z",
            "logical_date": "2026-03-02T06:00:00Z",
            "state": "running",
            "run_type": "scheduled",
        },
        "deadline": {"id": "0195f0e2-1111-7000-8000-000000000001", "deadline_time": "2026-03-02T06:30:04.512Z"},
    }


def test_awaited_notifier_renders_templates_with_the_deadline_context(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    notifier = SendEmailNotifier(
        to="oncall@example.org",
        subject="Late: {{ dag_run.dag_id }} ({{ dag_run.dag_run_id }})",
        html="<p>Deadline {{ deadline.deadline_time }}</p>",
        context=deadline_context(),
    )

    async def in_an_event_loop() -> None:
        await notifier

    asyncio.run(in_an_event_loop())

    (received,) = smtp_server.messages
    assert received.message["Subject"] == "Late: nightly_orders (scheduled__2026-03-02T06:00:00+00:00)"
    assert "Deadline 2026-03-02T06:30:04.512Z" in received.message.get_body(("html",)).get_content()


def test_the_same_missed_deadline_keeps_its_message_id(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    for _ in range(2):
        asyncio.run(SendEmailNotifier(to="oncall@example.org").async_notify(deadline_context()))
    asyncio.run(SendEmailNotifier(to="oncall@example.org").async_notify(deadline_context("manual__other")))

    first, again, other = (r.message["Message-ID"] for r in smtp_server.wait_for(3))
    assert first == again != other


def test_a_5_mib_message_does_not_stall_the_event_loop(smtp_server, smtp_conn, tmp_path, capsys):
    """The stall is recorded, not asserted (tests never assert on wall time); bench/async_stall.py measures it."""
    send_while_ticking = load_module(BENCH / "async_stall.py").send_while_ticking
    smtp_conn(smtp_server)
    payload = tmp_path / "export.bin"
    payload.write_bytes(bytes(range(256)) * (5 * 1024 * 4))  # 5 MiB
    notifier = SendEmailNotifier(to="oncall@example.org", attachments=[str(payload)], max_attachment_mb=6)

    ticks, longest = asyncio.run(send_while_ticking(notifier.async_notify(deadline_context()), interval=0.005))

    (received,) = smtp_server.messages
    (part,) = received.message.iter_attachments()
    assert part.get_payload(decode=True) == payload.read_bytes()
    assert ticks > 0
    with capsys.disabled():
        print(f"\n5 MiB via async_notify: {ticks} ticks, longest event-loop stall {longest * 1000:.1f} ms")


def test_default_message_of_a_deadline_context_without_times():
    from airflow_provider_smtpconn.notifications.context import MissedDeadline

    facts = MissedDeadline.from_context({"dag_run": {"dag_id": "d", "dag_run_id": "r"}, "deadline": {}})
    default = facts.default_message()  # type: ignore[union-attr]
    assert default.subject == "[Airflow] d: run r missed its deadline (an unknown time)"
    assert MissedDeadline.from_context({"ti": object(), "deadline": {}}) is None


# -- the version gate --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "name"),
    [(DEADLINE_ALERTS, "Deadline alerts"), (HUMAN_IN_THE_LOOP, "Approval emails for human-in-the-loop tasks")],
)
def test_features_of_airflow_3_1_name_the_version_they_need_on_3_0(feature, name):
    with pytest.raises(AirflowVersionError) as raised:
        require_airflow(feature, installed="3.0.6")
    message = str(raised.value)
    assert message.startswith(name)
    assert "need Airflow 3.1 or newer; this is Airflow 3.0.6" in message
    assert "\n" not in message and message.endswith(".")
    for fine in ("3.1.0", "3.1.0rc1", "3.3.2", "4.0.0"):
        require_airflow(feature, installed=fine)


def test_awaiting_the_notifier_on_airflow_3_0_says_which_version_it_needs(monkeypatch):
    import airflow

    monkeypatch.setattr(airflow, "__version__", "3.0.6")
    with pytest.raises(AirflowVersionError, match=r"need Airflow 3\.1 or newer; this is Airflow 3\.0\.6"):
        asyncio.run(SendEmailNotifier(to="oncall@example.org").async_notify(deadline_context()))
    with pytest.raises(AirflowVersionError, match=r"need Airflow 3\.1 or newer"):
        SendEmailNotifier(to="oncall@example.org", context=deadline_context())


# -- secrets in the triggerer ------------------------------------------------------------------------------


USER = "alice@example.org"


PASSWORD = "pw-Trig-Secret-71c2"


TOKEN = "ya29.Trig-Tok-93be1d"


@pytest.mark.parametrize("wrong", [False, True], ids=["accepted", "refused"])
def test_the_triggerer_masks_the_connection_secrets_and_never_records_them(
    server_tls, smtp_conn, trust_ca, caplog, wrong
):
    """Password (AUTH PLAIN over STARTTLS) and XOAUTH2 token, fetched with ``aget_connection``: both are
    registered with Airflow's masker, and neither reaches a log record or the callback's output (the triggerer
    stores a failure's traceback text in the metadata DB)."""
    import logging

    from airflow.sdk._shared.secrets_masker.secrets_masker import redact
    from support.fault_server import FaultServer

    given_password, given_token = (PASSWORD + "-wrong", TOKEN + "-wrong") if wrong else (PASSWORD, TOKEN)
    caplog.set_level(logging.DEBUG)
    with (
        FaultServer(starttls_context=server_tls, auth={USER: PASSWORD}) as basic,
        FaultServer(xoauth2={USER: TOKEN}) as oauth,
    ):
        smtp_conn(basic, "trig_basic", login=USER, password=given_password, tls_mode="starttls", retry_limit=0)
        smtp_conn(oauth, "trig_oauth", login=USER, auth_type="xoauth2", access_token=given_token, retry_limit=0)
        outputs = []
        for conn_id in ("trig_basic", "trig_oauth"):
            from airflow.triggers.callback import CallbackTrigger

            trigger = CallbackTrigger(
                "airflow_provider_smtpconn.notifications.smtp.SendEmailNotifier",
                {"to": "oncall@example.org", "smtp_conn_id": conn_id, "context": deadline_context()},
            )
            outputs += asyncio.run(run_trigger(trigger))

        assert [e["state"] for e in outputs] == ["running", "failed" if wrong else "success"] * 2, outputs
        assert len(basic.messages) + len(oauth.messages) == (0 if wrong else 2)
    for secret in (given_password, given_token):
        assert secret not in redact(f"x {secret} y")  # registered with the masker
        assert secret not in caplog.text
        assert all(secret not in str(event.get("body")) for event in outputs)
    if wrong:
        assert "SmtpAuthError" in str(outputs[-1]["body"])


def test_a_dry_run_in_the_triggerer_writes_the_deadline_email_without_a_connection(smtp_server):
    from email import message_from_bytes, policy

    written = Path(
        tempfile.gettempdir(),
        "smtpconn-dry-run",
        "nightly_orders",
        "scheduled__2026-03-02T06_00_00_00_00",
        "deadline.eml",
    )
    written.unlink(missing_ok=True)
    notifier = SendEmailNotifier(to="oncall@example.org", from_email="airflow@example.org", dry_run=True)
    asyncio.run(notifier.async_notify(deadline_context()))

    assert smtp_server.connections == 0
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("[Airflow] nightly_orders: run scheduled__2026-03-02T06:00:00+00:00 missed")
