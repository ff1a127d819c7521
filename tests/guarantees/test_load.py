"""Load on loopback: many messages, each with a unique Message-ID and a checksum of its body; afterwards every one
arrived exactly once and intact. The figures (messages, duplicates, losses, corrupted, wall time) are printed (run
with ``-s`` to see them) and, if ``SMTPCONN_RELIABILITY_JSON`` is set, recorded for the README.

* Through one hook session: 2,000 messages over one SMTP connection.
* Through the operator: a mapped ``SendEmailOperator`` (``.partial().expand_kwargs()``) with 100 map indexes, each a
  task instance with its own try, Message-ID and SMTP connection, run by ``dag.test()``. dag.test() costs about
  0.12 s per task instance here and grows faster than linearly (100 in ~12 s, 200 in ~31 s), so 100 keeps the
  suite's budget; the hook figure is the throughput one, this one proves the task path under repetition.

Both loops are bounded in count, and the hook loop also by a deadline (a guard against a hang, not a speed test).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from support.airflow_helpers import run_dag
from support.messages import composed
from support.reliability_log import record

from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

if TYPE_CHECKING:
    from fault_server import Received

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
HOOK_MESSAGES = 2000
MAPPED_TASKS = 100
HANG_GUARD_SECONDS = 180.0
CHECKSUM = "X-Body-SHA256"


def body(i: int) -> str:
    """About 1 KiB of text, different for every ``i``; some lines start with a dot, some are not ASCII."""
    rng = random.Random(i)
    lines = [f"Message {i}."]
    lines += [f"{rng.getrandbits(256):064x}" for _ in range(12)]
    lines.append(".a line that starts with a dot (dot-stuffed on the wire)")
    if i % 10 == 0:
        lines.append("Grüße, Zoë — quoted-printable")
    return "\n".join(lines) + "\n"


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def received_text(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def tally(received: list[Received], sent: dict[str, str]) -> dict[str, int]:
    """Compare what arrived with what was sent (Message-ID -> checksum)."""
    counts = Counter(r.message_id for r in received)
    corrupted = sum(
        1
        for r in received
        if r.message_id not in sent
        or str(r.message[CHECKSUM]).strip() != sent[r.message_id]  # a long value is folded onto its own line
        or checksum(received_text(r)) != sent[r.message_id]
    )
    return {
        "messages": len(sent),
        "received": len(received),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "losses": len(set(sent) - set(counts)),
        "unexpected": len(set(counts) - set(sent)),
        "corrupted": corrupted,
    }


def report(path: str, figures: dict[str, Any], wall: float) -> None:
    rate = figures["messages"] / wall if wall else 0.0
    print(
        f"\nload through {path}: {figures['messages']} messages, {figures['received']} received, "
        f"{figures['duplicates']} duplicates, {figures['losses']} losses, {figures['corrupted']} corrupted, "
        f"{wall:.1f} s wall ({rate:.0f} messages/s)"
    )
    record("load", path=path, wall_seconds=round(wall, 2), per_second=round(rate, 1), **figures)


def test_2000_messages_through_one_hook_session(smtp_server, smtp_conn):
    smtp_conn(smtp_server, retry_limit=0)
    sent: dict[str, str] = {}
    started = time.monotonic()
    with SmtpConnHook() as hook:
        for i in range(HOOK_MESSAGES):
            if time.monotonic() - started > HANG_GUARD_SECONDS:
                pytest.fail(f"hang guard: only {i} of {HOOK_MESSAGES} messages sent in {HANG_GUARD_SECONDS:g} s")
            text = body(i)
            message = composed(
                sender="Load <load@example.org>",
                to=f"rcpt{i % 7}@example.org",
                subject=f"load {i}",
                text=text,
                headers={CHECKSUM: checksum(text)},
                identity=("load", i),
            )
            result = hook.send(message)
            sent[result.message_id] = checksum(text)
    wall = time.monotonic() - started
    received = smtp_server.messages
    figures = tally(received, sent)
    report("one hook session", figures, wall)

    assert len(sent) == HOOK_MESSAGES  # unique Message-IDs
    assert figures == {
        "messages": HOOK_MESSAGES,
        "received": HOOK_MESSAGES,
        "duplicates": 0,
        "losses": 0,
        "unexpected": 0,
        "corrupted": 0,
    }
    assert smtp_server.connections == 1  # one session, never reconnected
    assert [r.message_id for r in received] == list(sent)  # and in order


def test_mapped_operator_sends_each_map_index_exactly_once(smtp_server, smtp_conn):
    from airflow.sdk import DAG

    smtp_conn(smtp_server, retry_limit=0)
    texts = [body(i) for i in range(MAPPED_TASKS)]
    with DAG("load_mapped_operator", schedule=None, start_date=START, catchup=False) as dag:
        SendEmailOperator.partial(task_id="send", subject="load {{ ti.map_index }}").expand_kwargs(
            [
                {"to": f"rcpt{i}@example.org", "text": text, "headers": {CHECKSUM: checksum(text), "X-Load-Index": i}}
                for i, text in enumerate(texts)
            ]
        )
    started = time.monotonic()
    dag_run = run_dag(dag)
    wall = time.monotonic() - started

    instances = dag_run.get_task_instances()
    states = Counter(str(ti.state) for ti in instances)
    received = smtp_server.messages
    by_index = {int(r.message["X-Load-Index"]): r for r in received}
    # What each map index should have sent: its own text, under the Message-ID its XCom reports.
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == "send",
                XComModel.key == "return_value",
            )
        ).all()
        results = {row.map_index: XComModel.deserialize_value(row) for row in rows}
    sent = {results[i]["message_id"]: checksum(texts[i]) for i in results}
    figures = tally(received, sent)
    report(f"the operator ({MAPPED_TASKS} mapped task instances)", figures, wall)

    assert states == {"success": MAPPED_TASKS}
    assert len(sent) == MAPPED_TASKS  # one Message-ID per map index, all different
    assert figures["duplicates"] == figures["losses"] == figures["unexpected"] == figures["corrupted"] == 0
    assert sorted(by_index) == list(range(MAPPED_TASKS))
    for i, r in by_index.items():
        assert r.message["Subject"] == f"load {i}"
        assert r.rcpt_tos == [f"rcpt{i}@example.org"]
        assert r.message_id == results[i]["message_id"]
    assert smtp_server.connections == MAPPED_TASKS  # a connection per task instance
