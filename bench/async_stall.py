"""How long the triggerer's event loop stalls while ``SendEmailNotifier.async_notify`` sends a large message.

Usage: ``python bench/async_stall.py [--mib 5] [--reps 5] [--interval-ms 5]``. Everything binds and sends to
127.0.0.1 only: the counting sink from ``bench_sink.py`` runs in its own process (so its work does not share
our GIL), the notifier is awaited in an event loop with a deadline-style context, and a ticker on the same loop
wakes every ``interval`` and records how late each wake-up was. The longest lateness is the stall another
trigger would have felt. Prints one line per repetition and the median; asserts nothing about speed (the
issue's target is under 50 ms), but stops if the sink did not receive every message. ``--blocking`` measures the
same send done on the loop itself (``notify`` called from a coroutine), to show what the ticker sees when the
loop is blocked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable

HERE = Path(__file__).resolve().parent


async def send_while_ticking(send: Awaitable[Any], *, interval: float = 0.005) -> tuple[int, float]:
    """Await ``send`` while a ticker on the same loop sleeps ``interval`` seconds at a time.

    :return: ``(ticks, longest)``: how many times the ticker woke, and its longest lateness in seconds (how
        much later than ``interval`` it woke up: the longest time the loop could not run anything else).
    """
    done = asyncio.Event()
    longest = 0.0
    ticks = 0

    async def ticker() -> None:
        nonlocal longest, ticks
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(interval)
            longest = max(longest, time.perf_counter() - before - interval)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start before the send does
    try:
        await send
    finally:
        done.set()
        await ticking
    return ticks, longest


def deadline_context() -> dict[str, Any]:
    """The context the scheduler hands a Deadline Alert callback: the run (as JSON) and the deadline."""
    return {
        "dag_run": {"dag_id": "bench_dag", "dag_run_id": "manual__bench", "state": "running"},
        "deadline": {"id": "bench", "deadline_time": "2026-01-01T00:30:00Z"},
    }


async def blocking_send(notifier: Any) -> None:
    """The same send without the worker thread: what a notifier without ``async_notify`` would do to the loop."""
    notifier.notify(deadline_context())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=5.0, help="attachment size in MiB (default 5)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="ticker interval in ms (default 5)")
    parser.add_argument("--blocking", action="store_true", help="send on the loop with notify(), for contrast")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from bench_cases import connection_env
    from run import Sink

    with tempfile.TemporaryDirectory(prefix="smtpconn-stall-") as tmp:
        os.environ.setdefault("AIRFLOW_HOME", tmp)
        payload = Path(tmp, "export.bin")
        payload.write_bytes(os.urandom(int(args.mib * 1024 * 1024)))
        sink = Sink()
        try:
            os.environ.update(connection_env(sink.port))
            from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

            stalls = []
            for rep in range(args.reps):
                notifier = SendEmailNotifier(
                    to="bench@example.org", attachments=[str(payload)], smtp_conn_id="smtpconn_bench"
                )
                before = sink.count()[0]
                send = blocking_send(notifier) if args.blocking else notifier.async_notify(deadline_context())
                ticks, longest = asyncio.run(send_while_ticking(send, interval=args.interval_ms / 1000))
                if sink.count()[0] != before + 1:
                    raise RuntimeError("the sink did not receive the message")
                stalls.append(longest * 1000)
                print(f"rep {rep + 1}: {args.mib:g} MiB sent, {ticks} ticks, longest stall {longest * 1000:.1f} ms")
        finally:
            sink.close()
    how = "notify() on the loop" if args.blocking else "async_notify()"
    print(
        f"{how}: longest event-loop stall while sending {args.mib:g} MiB: median {statistics.median(stalls):.1f} ms, "
        f"max {max(stalls):.1f} ms over {args.reps} runs (ticker every {args.interval_ms:g} ms)"
    )


if __name__ == "__main__":
    main()
