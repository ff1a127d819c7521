"""Case 7: the mail merge of case 5 at a relay's distance, where a round trip costs milliseconds, not microseconds.

A delay proxy on 127.0.0.1 (``delay_proxy.py``) holds every byte 10 ms in each direction (a 20 ms round trip, no
bandwidth limit) in front of a counting aiosmtpd sink that offers PIPELINING and CHUNKING (``relay_sink.py``).
Every contender sends the same personalised rows (case 5's templates), one fresh interpreter per run:

* ``official``: a loop over ``SmtpHook.send_email_smtp`` on one session (lock-step: four round trips a message);
* ``ours``: ``MailMergeOperator.execute`` on one session (pipelined: about one round trip a message);
* ``ours4``: the same with ``sessions=4``;
* ``floor``: the pipelined floor: every message rendered and flattened by the standard library before the clock
  starts, then written by hand with RFC 2920 pipelining, each body, its final dot and the next envelope in one
  write (one round trip a message);
* ``floor_bdat``: the same with CHUNKING (RFC 3030): ``BDAT <size> LAST`` instead of DATA and the final dot, the
  next envelope in the same write; the RCPT replies are still awaited before a body goes, as our rules ask.

Run by ``run.py`` (``--cases relay``); as a script this module is the child: ``python bench/bench_relay.py
'<JSON job>'`` prints one ``@@result {...}`` line.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from processes import RESULT_PREFIX, HelperProcess, run_child  # noqa: E402

DELAY_MS = 10.0
CONTENDERS = ("official", "ours", "ours4", "floor", "floor_bdat")
LABELS = {
    "official": "official: SmtpHook loop, one session",
    "ours": "ours: MailMergeOperator, one session",
    "ours4": "ours: MailMergeOperator, sessions=4",
    "floor": "floor: prebuilt bytes, pipelined by hand (DATA)",
    "floor_bdat": "floor with CHUNKING: prebuilt bytes, BDAT by hand",
}
OURS_RELAY, OFFICIAL_RELAY = "smtpconn_relay", "smtp_relay"
CHILD_TIMEOUT = 900


# -- the parent: processes, runs, report ---------------------------------------------------------------------


def run_case(n: int, reps: int, env: dict[str, str], tmpdir: str, progress: Any) -> tuple[dict[str, Any], list[str]]:
    """Every contender ``reps`` times, interleaved; the raw results and the report's lines for case 7."""
    sink = HelperProcess(str(HERE / "relay_sink.py"))
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        proxy = HelperProcess(str(HERE / "delay_proxy.py"), str(sink.port), str(DELAY_MS))
        try:
            for _ in range(reps):
                for contender in CONTENDERS:
                    before = sink.count()[0]
                    result = _child({"contender": contender, "n": n, "port": proxy.port, "tmpdir": tmpdir}, env)
                    received = sink.count()[0] - before
                    if received != result["sent"]:
                        raise RuntimeError(f"relay/{contender}: sent {result['sent']} but the sink received {received}")
                    results.setdefault(contender, []).append(result)
                    progress(f"relay  {contender:10} {result['rate']:.1f} msg/s")
        finally:
            proxy.close()
    finally:
        sink.close()
    return results, report(results, n, reps)


def _child(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return run_child(HERE / "bench_relay.py", job, env, CHILD_TIMEOUT)


def _cell(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def report(results: dict[str, list[dict[str, Any]]], n: int, reps: int) -> list[str]:
    """Case 7's table and targets (Markdown lines)."""
    rate = {c: statistics.median(r["rate"] for r in runs) for c, runs in results.items()}
    lines = [
        f"7. mail merge at a relay's distance: {n:,} personalised messages (case 5's) through a delay proxy on "
        f"127.0.0.1 holding each direction {DELAY_MS:g} ms (a {2 * DELAY_MS:g} ms round trip, no bandwidth limit) "
        f"in front of an aiosmtpd sink offering PIPELINING and CHUNKING; median [min-max] over {reps} runs, "
        "contenders interleaved, a fresh interpreter each.",
        "",
        "| Contender | messages/s | client CPU per message (ms) | / official |",
        "|---|---|---|---|",
    ]
    for contender, runs in results.items():
        ratio = rate[contender] / rate["official"]
        lines.append(f"| {LABELS[contender]} | {_cell(runs, 'rate')} | {_cell(runs, 'cpu_ms')} | {ratio:.2f}x |")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ours, four, floor = rate["ours"] / rate["official"], rate["ours4"] / rate["official"], rate["ours"] / rate["floor"]
    lines += [
        "",
        "Targets:",
        f"- 7. ours (one session) >= 3x official: {verdict(ours >= 3)} ({ours:.2f}x); >= 0.8x the pipelined floor: "
        f"{verdict(floor >= 0.8)} ({floor:.2f}x).",
        f"- 7. ours, sessions=4 >= 10x official: {verdict(four >= 10)} ({four:.2f}x).",
        f"- 7. CHUNKING, reported: the BDAT floor / the DATA floor = {rate['floor_bdat'] / rate['floor']:.2f}.",
    ]
    return lines


# -- the child: one contender, one run -----------------------------------------------------------------------


def _connections(port: int) -> dict[str, str]:
    from bench_cases import SENDER, SENDER_DISPLAY

    ours = {"conn_type": "smtpconn", "host": "127.0.0.1", "port": port,
            "extra": {"tls_mode": "none", "from_email": SENDER_DISPLAY, "timeout": 60}}  # fmt: skip
    official = {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": SENDER, "timeout": 60}}  # fmt: skip
    return {
        f"AIRFLOW_CONN_{OURS_RELAY.upper()}": json.dumps(ours),
        f"AIRFLOW_CONN_{OFFICIAL_RELAY.upper()}": json.dumps(official),
    }


def _ours(rows: list[dict[str, Any]], tmpdir: str, tag: str, sessions: int) -> int:
    from bench_merge import HTML, SUBJECT, TEXT

    from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator

    op = MailMergeOperator(
        task_id=f"relay_{tag}", rows=rows, row_key="id", to="{{ row.email }}", subject=SUBJECT, text=TEXT, html=HTML,
        smtp_conn_id=OURS_RELAY, journal_dir=os.path.join(tmpdir, "journal"), sessions=sessions,
    )  # fmt: skip
    ti = SimpleNamespace(dag_id="bench", task_id=op.task_id, run_id=f"{tag}-{os.getpid()}", map_index=-1, try_number=1)
    return op.execute({"ti": ti, "run_id": ti.run_id})["sent"]  # type: ignore[arg-type]


def _official(rows: list[dict[str, Any]]) -> int:
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from bench_merge import _templates

    subject, _text, html = _templates()
    with SmtpHook(smtp_conn_id=OFFICIAL_RELAY) as hook:
        for row in rows:
            hook.send_email_smtp(to=row["email"], subject=subject.render(row=row), html_content=html.render(row=row))
    return len(rows)


def _prebuilt(rows: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    from bench_merge import _stdlib_bytes, _templates

    templates = _templates()
    return [(row["email"], _stdlib_bytes(row, templates)) for row in rows]


def _expect(replies: Any, code: int) -> None:
    while True:
        line = replies.readline()
        if not line.startswith(str(code).encode()):
            raise RuntimeError(f"expected {code}, the sink answered {line!r}")
        if line[3:4] != b"-":
            return


def _floor(port: int, prebuilt: list[tuple[str, bytes]], *, chunking: bool) -> int:
    """Write the prebuilt messages pipelined: each body (and its end) with the next envelope, in one write."""
    import socket

    from bench_cases import SENDER

    bodies = [data if chunking else data.replace(b"\r\n.", b"\r\n..") for _, data in prebuilt]  # dot-stuffed once
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        replies = sock.makefile("rb")
        _expect(replies, 220)
        sock.sendall(b"EHLO bench.localhost\r\n")
        _expect(replies, 250)
        held = b""
        for (to, _), body in zip(prebuilt, bodies, strict=True):
            envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{to}>\r\n".encode() + (b"" if chunking else b"DATA\r\n")
            sock.sendall(held + envelope)
            for code in ((250,) if held else ()) + (250, 250) + (() if chunking else (354,)):
                _expect(replies, code)
            held = b"BDAT %d LAST\r\n" % len(body) + body if chunking else body + b".\r\n"
        sock.sendall(held + b"QUIT\r\n")
        _expect(replies, 250)
        _expect(replies, 221)
    return len(prebuilt)


def case_relay(contender: str, n: int, port: int, tmpdir: str) -> dict[str, Any]:
    """Send ``n`` personalised messages through the proxy; messages/s and client CPU per message."""
    from bench_merge import merge_rows

    os.environ.update(_connections(port))
    rows, warm = merge_rows(n), merge_rows(5)
    if contender in ("floor", "floor_bdat"):
        chunking = contender == "floor_bdat"
        _floor(port, _prebuilt(warm), chunking=chunking)
        prebuilt = _prebuilt(rows)

        def run() -> int:
            return _floor(port, prebuilt, chunking=chunking)
    elif contender == "official":
        _official(warm)

        def run() -> int:
            return _official(rows)
    else:
        sessions = 4 if contender == "ours4" else 1
        _ours(warm, tmpdir, "warm", sessions)

        def run() -> int:
            return _ours(rows, tmpdir, "timed", sessions)

    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    sent = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "rate": n / seconds, "cpu_ms": cpu * 1000 / n, "sent": sent + len(warm)}


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    job = json.loads(argv[1])
    print(RESULT_PREFIX + json.dumps(case_relay(**job)), flush=True)


if __name__ == "__main__":
    main(sys.argv)
