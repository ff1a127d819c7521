"""The merge's sending: ``sessions`` SMTP sessions side by side, each taking the next prepared row and streaming
it over its connection (pipelined when the server offers PIPELINING: one round trip per message).

The sessions share the rows (a :class:`~.prefetch.Prefetch`), the pacing (one :class:`~.pacing.RateLimiter`, so
``max_per_minute`` is the whole merge's) and the :class:`~.recorder.Recorder`; each opens its own connection,
reconnects on its own under the transport's retry rules, and starts a new one every ``messages_per_session``
messages. A session never waits with a final dot held back: before it waits for the next row or for the
pacing, it sends what it holds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.merge.pacing import SessionBudget
from airflow_provider_smtpconn.merge.prefetch import EMPTY, END

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.merge.pacing import RateLimiter
    from airflow_provider_smtpconn.merge.prefetch import Prefetch
    from airflow_provider_smtpconn.merge.recorder import Recorder


def send_rows(
    open_session: Callable[[], Any],
    ready: Prefetch,
    recorder: Recorder,
    limiter: RateLimiter,
    messages_per_session: int | None,
) -> None:
    """One session's loop: take rows from ``ready`` until there are none or the merge stops.

    ``ready`` yields ``(position, key, None, message)`` for a row to send and ``(position, key, status,
    payload)`` for a row already decided (recorded, not sent). ``open_session()`` returns a new
    ``SmtpSession`` (or anything with its ``stream``, ``close`` and context manager).
    """
    budget = SessionBudget(messages_per_session)
    with open_session() as session, session.stream(on_outcome=recorder.sent, on_commit=recorder.intent) as stream:
        while not recorder.stopped:
            item = ready.take(block=False)
            if item is EMPTY:
                stream.flush()  # nothing to send with the held dot: send it now, then wait for a row
                item = ready.take()
            if item is END:
                break
            position, key, status, payload = item
            if status is not None:
                stream.flush()  # the rows before it are decided first, so the recorder need not hold it long
                recorder.decided(position, key, status, payload)
                continue
            delay = limiter.reserve()
            if delay > 0:
                stream.flush()
                if recorder.wait(delay):
                    break
            stream.submit(payload, (position, key, payload.message_id))
            if budget.spend():
                stream.flush()
                session.close()
        if not recorder.stopped:
            stream.flush()


def run_sessions(count: int, send: Callable[[], None], recorder: Recorder) -> None:
    """Run ``send`` once per session: on this thread for one, on a thread each for more. When one fails, the
    others stop after the message in hand; the first failure is raised.
    """
    if count == 1:
        send()
        return
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="mail-merge-session") as pool:
        for future in as_completed([pool.submit(send) for _ in range(count)]):
            error = future.exception()
            if error is not None:
                recorder.stop()
                errors.append(error)
    if errors:
        raise errors[0]
