"""The benchmark cases: one function per case, each running one contender once and returning its numbers.

Contenders:

* ``ours``: this provider. Cases 1 and 4 go through ``sending.send_email`` (what ``execute`` runs: compose to the
  wire form, then ``SmtpConnHook.send``); case 2 sends each message with ``sending.prepare_email`` and
  ``sending.deliver`` (the one send path) over one ``with SmtpConnHook(...) as hook`` session; case 5 is
  ``MailMergeOperator.execute`` (see ``bench_merge``); case 7 hands standard library ``EmailMessage`` objects to
  ``SmtpConnHook.send`` over one session.
* ``official``: ``apache-airflow-providers-smtp``, as its docs show it: ``with SmtpHook(smtp_conn_id=...) as
  hook: hook.send_email_smtp(to=..., subject=..., html_content=..., files=[...])``.
* ``stdlib``: the floor, the standard library alone: messages built by the ``email`` package and sent with
  ``smtplib.SMTP.sendmail`` on one connection.

Run as a script this module is the child worker: ``python bench/bench_cases.py '<JSON list of jobs>'`` runs each
job in this fresh interpreter and prints one ``@@result {...}`` line per job. Memory figures are the peak
resident set above the state just before the measured step: the kernel's high-water mark (``VmHWM``) is reset
through ``/proc/self/clear_refs`` right after reading the baseline ``VmRSS``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from typing import Any

CONTENDERS = ("ours", "official", "stdlib")
SENDER = "bench@example.org"
SENDER_DISPLAY = f"Bench <{SENDER}>"
RECIPIENT = "reader@example.org"
OURS_CONN = "smtpconn_bench"
OFFICIAL_CONN = "smtp_bench"
PORT_ENV = "SMTPCONN_BENCH_PORT"
RESULT_PREFIX = "@@result "
IMPORT_START = "@@import-start"
IMPORT_END = "@@import-end"

REPORT_HTML = "<html><body><p>Hello,</p><p>the nightly report is attached.</p></body></html>"

# Case 3: what a DAG file adds to ``from airflow.sdk import DAG`` to use each contender's operator.
IMPORTS = {
    "ours": "from airflow_provider_smtpconn.operators.smtp import SendEmailOperator",
    "official": "from airflow.providers.smtp.operators.smtp import EmailOperator",
    "stdlib": "import smtplib, email.message",
}


def connection_env(port: int) -> dict[str, str]:
    """The two Airflow connections (as ``AIRFLOW_CONN_*`` JSON) and the sink's port for ``stdlib``."""
    ours = {
        "conn_type": "smtpconn",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"tls_mode": "none", "from_email": SENDER_DISPLAY, "max_attachment_mb": 256, "timeout": 60},
    }
    official = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        # disable_ssl: plain SMTP instead of SMTP_SSL; disable_tls: no STARTTLS (the sink speaks plain text).
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": SENDER, "timeout": 60},
    }
    return {
        f"AIRFLOW_CONN_{OURS_CONN.upper()}": json.dumps(ours),
        f"AIRFLOW_CONN_{OFFICIAL_CONN.upper()}": json.dumps(official),
        PORT_ENV: str(port),
    }


# -- memory --------------------------------------------------------------------------------------------------


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


class PeakMeter:
    """Peak RSS above the RSS at entry, in MiB (``VmHWM`` after a reset, else ``ru_maxrss``)."""

    def __enter__(self) -> PeakMeter:
        gc.collect()
        self.before_kib = _status_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # reset the peak RSS (VmHWM) to the current RSS
            self.reset = True
        except OSError:
            self.reset = False
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.start
        if self.reset:
            peak_kib = _status_kib("VmHWM")
        else:
            import resource

            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_mib = max(0, peak_kib - self.before_kib) / 1024


def measure_send(timed: Any, traced: Any) -> dict[str, Any]:
    """Peak RSS and time of ``timed()``, then the Python heap peak of ``traced()`` (one more send, untimed)."""
    with PeakMeter() as meter:
        timed()
    heap = heap_peak_mib(traced)
    return {
        "peak_mib": meter.peak_mib,
        "heap_mib": heap,
        "seconds": meter.seconds,
        "sent": 3,
        "peak_reset": meter.reset,
    }


def heap_peak_mib(run: Any) -> float:
    """The peak of Python's own allocations while ``run()`` runs, by ``tracemalloc`` (not timed: it is slow).

    Unlike RSS, it does not depend on how much freed memory the allocator already holds.
    """
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1048576
    finally:
        tracemalloc.stop()


# -- the three ways to send one message with a file attachment ---------------------------------------------


def _port() -> int:
    return int(os.environ[PORT_ENV])


def _stdlib_send(messages: list[tuple[Any, str]]) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", _port(), timeout=60) as smtp:
        for message, to in messages:
            smtp.sendmail(SENDER, [to], message.as_bytes())


def _stdlib_message(subject: str, html: str | None, to: str = RECIPIENT) -> Any:
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate, make_msgid

    msg = EmailMessage(policy=SMTP)
    msg["From"] = SENDER_DISPLAY
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="example.org")
    if html is not None:
        msg.set_content(html, subtype="html")
    return msg


def _ours_operator(task_id: str, attachments: Any) -> Any:
    from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

    op = SendEmailOperator(
        task_id=task_id, to=RECIPIENT, subject="Report", html=REPORT_HTML, smtp_conn_id=OURS_CONN, attachments=None
    )
    op.attachments = attachments  # what rendering sets at run time (e.g. from upstream.output)
    return op


def _ours_send(op: Any, identity: tuple[str, ...]) -> None:
    """What the operator's execute does, without a task context."""
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
    from airflow_provider_smtpconn.sending import send_email

    send_email(op.email_request(), SmtpConnHook(smtp_conn_id=op.smtp_conn_id), identity=identity)


def _official_send(files: list[str]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=OFFICIAL_CONN) as hook:
        hook.send_email_smtp(to=RECIPIENT, subject="Report", html_content=REPORT_HTML, files=files)


def send_file(contender: str, path: str, tag: str) -> None:
    """Send one message with ``path`` attached, the contender's way."""
    if contender == "ours":
        _ours_send(_ours_operator(f"large_{tag}", [path]), ("bench", "large", tag))
    elif contender == "official":
        _official_send([path])
    else:
        from pathlib import Path

        msg = _stdlib_message("Report", REPORT_HTML)
        data = Path(path).read_bytes()
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=Path(path).name)
        _stdlib_send([(msg, RECIPIENT)])


# -- case 1: one large file attachment -----------------------------------------------------------------------


def case_large(contender: str, path: str, warm_path: str) -> dict[str, Any]:
    """Build and send one message with the file at ``path``; a small one first loads everything lazy."""
    send_file(contender, warm_path, "warm")
    return measure_send(lambda: send_file(contender, path, "big"), lambda: send_file(contender, path, "heap"))


# -- case 2: many small messages over one session ------------------------------------------------------------

_TEXT = (
    "Hello {name},\n\nYour account {number} had {count} events yesterday. "
    + "This paragraph stands for the body of a routine notification, written once per reader. " * 10
    + "\n\nRegards,\nThe data team\n"
)
_HTML = (
    "<html><body><p>Hello <b>{name}</b>,</p><p>Your account {number} had <b>{count}</b> events yesterday.</p>"
    + "<p>This paragraph stands for the body of a routine notification, written once per reader.</p>" * 9
    + "<p>Regards,<br>The data team</p></body></html>"
)


def personalised(n: int) -> list[tuple[str, str, str, str]]:
    """``n`` (to, subject, text, html) tuples, about 1 KiB of text and 1 KiB of HTML each."""
    items = []
    for i in range(n):
        values = {"name": f"Reader {i}", "number": f"AC-{i:06d}", "count": i % 97}
        items.append(
            (f"reader{i}@example.org", f"Your daily summary #{i}", _TEXT.format(**values), _HTML.format(**values))
        )
    return items


def case_many(contender: str, items: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """Build and send every message in ``items`` over one session; returns the rate."""
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    if contender == "ours":
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
        from airflow_provider_smtpconn.sending import EmailRequest, deliver, prepare_email

        # The one send path every shell uses (what SendEmailOperator.execute runs), over one session. Its INFO
        # line per message ("Sent <id> ...") is silenced here so the report is not buried under 3,000 of them.
        logging.getLogger("airflow_provider_smtpconn.sending").setLevel(logging.WARNING)
        with SmtpConnHook(smtp_conn_id=OURS_CONN) as hook:
            for to, subject, text, html in items:
                request = EmailRequest(from_email=SENDER_DISPLAY, to=to, subject=subject, text=text, html=html)
                deliver(prepare_email(request, hook), hook)
    elif contender == "official":
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        # send_email_smtp takes html_content only: no plain-text alternative.
        with SmtpHook(smtp_conn_id=OFFICIAL_CONN) as hook:
            for to, subject, _text, html in items:
                hook.send_email_smtp(to=to, subject=subject, html_content=html)
    else:
        import smtplib

        with smtplib.SMTP("127.0.0.1", _port(), timeout=60) as smtp:
            for to, subject, text, html in items:
                msg = _stdlib_message(subject, None, to)
                msg.set_content(text)
                msg.add_alternative(html, subtype="html")
                smtp.sendmail(SENDER, [to], msg.as_bytes())
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "rate": len(items) / seconds, "cpu_ms": cpu * 1000 / len(items), "sent": len(items)}


# -- case 7: standard library messages handed to the hook -----------------------------------------------------


def stdlib_messages(items: list[tuple[str, str, str, str]]) -> list[Any]:
    """The messages of case 2 as Python code calling a hook builds them: ``EmailMessage``, text and HTML."""
    messages = []
    for to, subject, text, html in items:
        msg = _stdlib_message(subject, None, to)
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        messages.append(msg)
    return messages


def case_door(contender: str, items: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """Send case 2's messages, built beforehand as ``EmailMessage`` objects (the caller's work, not the hook's),
    over one session; the official hook has no door for a built message, so it sends the same fields with its
    documented ``send_email_smtp`` (HTML only), composing inside the loop.
    """
    messages = stdlib_messages(items) if contender != "official" else []
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    if contender == "ours":
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

        with SmtpConnHook(smtp_conn_id=OURS_CONN) as hook:
            for msg in messages:
                hook.send(msg)
    elif contender == "official":
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=OFFICIAL_CONN) as hook:
            for to, subject, _text, html in items:
                hook.send_email_smtp(to=to, subject=subject, html_content=html)
    else:
        import smtplib

        with smtplib.SMTP("127.0.0.1", _port(), timeout=60) as smtp:
            for msg in messages:
                smtp.send_message(msg)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "rate": len(items) / seconds, "cpu_ms": cpu * 1000 / len(items), "sent": len(items)}


# -- case 3: import cost (runs in its own interpreter under -X importtime) -----------------------------------


def case_import(contender: str, mode: str = "time") -> dict[str, Any]:
    """Import what a DAG file needs for the contender's operator, after ``airflow.sdk``.

    ``mode="time"`` (run under ``-X importtime``): wall time and the RSS added. ``mode="heap"``: the Python heap
    the import leaves allocated, by ``tracemalloc`` (exact, but it slows imports, hence a separate run).
    """
    from airflow.sdk import DAG, BaseOperator  # noqa: F401  # every DAG file has these already

    gc.collect()
    if mode == "heap":
        import tracemalloc

        tracemalloc.start()
        exec(IMPORTS[contender], {})
        heap = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return {"heap_kib": heap / 1024, "sent": 0}
    before = _status_kib("VmRSS")
    sys.stderr.flush()
    print(IMPORT_START, file=sys.stderr, flush=True)
    start = time.perf_counter()
    exec(IMPORTS[contender], {})
    seconds = time.perf_counter() - start
    print(IMPORT_END, file=sys.stderr, flush=True)
    return {"wall_ms": seconds * 1000, "rss_mib": (_status_kib("VmRSS") - before) / 1024, "sent": 0}


def importtime_ms(stderr: str, occurrence: int = 0) -> tuple[float, list[tuple[float, str]]]:
    """From ``-X importtime`` output: total ms of the imports between the markers (their ``occurrence``-th
    pair), and the five largest imports by self time."""
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line == IMPORT_START]
    ends = [i for i, line in enumerate(lines) if line == IMPORT_END]
    if len(starts) <= occurrence or len(ends) <= occurrence:
        raise RuntimeError("import markers missing from the child's stderr")
    body = lines[starts[occurrence] + 1 : ends[occurrence]]
    total_us = 0
    selfs: list[tuple[float, str]] = []
    for line in body:
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|", 2)
        if not own.strip().isdigit():
            continue  # the header line
        if len(name) - len(name.lstrip()) == 1:  # top level: one space after the bar, nested ones indent more
            total_us += int(cumulative)
        selfs.append((int(own) / 1000, name.strip()))
    return total_us / 1000, sorted(selfs, reverse=True)[:5]


# -- case 4: rows to a CSV attachment ------------------------------------------------------------------------


def make_rows(n: int) -> list[list[Any]]:
    """``n`` rows of 10 columns of the types an XCom carries (from JSON): int, str, float, bool, None."""
    return [
        [i, f"customer-{i:07d}", round(i * 1.37, 2), "2024-06-01T12:00:00+00:00", i % 7 == 0, None, "EUR",
         f"note {i}, with a comma", i * 3, "ok"]
        for i in range(n)
    ]  # fmt: skip


def _send_rows(contender: str, rows: list[list[Any]], csv_path: Any) -> None:
    import csv
    import io

    if contender == "ours":
        _ours_send(_ours_operator("rows", [{"filename": "rows.csv", "content": rows}]), ("bench", "rows"))
    elif contender == "official":
        # The official hook attaches files only: write the CSV to disk, then attach the path.
        with csv_path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(rows)
        _official_send([str(csv_path)])
        csv_path.unlink()
    else:
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows(rows)
        msg = _stdlib_message("Report", REPORT_HTML)
        msg.add_attachment(buffer.getvalue().encode("utf-8"), maintype="text", subtype="csv", filename="rows.csv")
        del buffer
        _stdlib_send([(msg, RECIPIENT)])


def case_rows(contender: str, n: int, tmpdir: str) -> dict[str, Any]:
    """Turn ``n`` rows (already in memory, as an XCom would be) into rows.csv, attach it, build and send."""
    from pathlib import Path

    csv_path = Path(tmpdir, f"rows-{os.getpid()}.csv")
    _send_rows(contender, make_rows(10), csv_path)  # warm-up: loads everything imported lazily
    rows = make_rows(n)
    return measure_send(lambda: _send_rows(contender, rows, csv_path), lambda: _send_rows(contender, rows, csv_path))


# -- the child worker ----------------------------------------------------------------------------------------


def _merge_cases() -> dict[str, Any]:
    import bench_merge  # the mail merge cases live in their own module; it imports this one
    import bench_reports  # case 7, the report in the body

    return {"merge": bench_merge.case_merge, "mergemem": bench_merge.case_mergemem, "report": bench_reports.case_report}


CASES = {"large": case_large, "many": case_many, "import": case_import, "rows": case_rows}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one ``{"case", "contender", **params}`` job."""
    params = {k: v for k, v in job.items() if k not in ("case", "contender")}
    if job["case"] == "many":
        params["items"] = personalised(params.pop("n"))
    return {**CASES, **_merge_cases()}[job["case"]](job["contender"], **params)


def main(argv: list[str]) -> None:
    for job in json.loads(argv[1]):
        result = run_job(job)
        print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
