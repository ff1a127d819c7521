"""Case 10: DKIM signing of a message with a large file attachment, memory and time, at two sizes.

Every contender composes the same message (an HTML body and one incompressible file attachment, read from disk)
and sends it to the counting sink, one fresh interpreter per run:

* ``unsigned``: ours without DKIM (the baseline: the attachment streamed, base64 a slice at a time);
* ``ours``: ours signed by ``message/dkim.py``: the body hash computed while the message's bytes are written,
  dkimpy signing the headers; the message is then streamed to the server as unsigned;
* ``whole``: the message's bytes in memory, signed with dkimpy's own ``dkim.sign`` (what a signer that takes the
  whole message does), then sent with smtplib.

A target: ours' peak (RSS and Python heap) at the large size within 3 MiB of the unsigned baseline, and not
growing with the attachment (large size vs small size within 3 MiB). Run by ``run.py`` (``--cases dkim``); as a
script this module is the child: ``python bench/bench_dkim.py '<JSON job>'`` prints one ``@@result {...}`` line.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from processes import RESULT_PREFIX, run_child  # noqa: E402

sys.path.insert(0, str(HERE))
CONTENDERS = ("unsigned", "ours", "whole")
LABELS = {
    "unsigned": "unsigned: ours, no DKIM (baseline)",
    "ours": "ours: signed while the bytes stream",
    "whole": "whole: the bytes in memory, dkimpy's dkim.sign",
}
TARGET_MIB = 3.0
CHILD_TIMEOUT = 600
SENDER, RECIPIENT, DOMAIN, SELECTOR = "reports@example.org", "reader@example.org", "example.org", "bench"


# -- the parent ------------------------------------------------------------------------------------------------


def run_case(
    sizes_mib: tuple[float, float], reps: int, env: dict[str, str], tmpdir: str, sink: Any, progress: Any
) -> tuple[dict[str, Any], list[str]]:
    """Every contender at both sizes ``reps`` times, interleaved; the raw results and the report's lines."""
    key = Path(tmpdir, "dkim-bench.pem")
    key.write_text(_new_key())
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for mib in sizes_mib:
        path = Path(tmpdir, f"dkim-{mib:g}MiB.bin")
        _write_random(path, int(mib * 1024 * 1024))
        try:
            for _ in range(reps):
                for contender in CONTENDERS:
                    before = sink.count()[0]
                    job = {"contender": contender, "path": str(path), "key": str(key)}
                    result = _child(job, env)
                    if sink.count()[0] - before != result["sent"]:
                        raise RuntimeError(f"dkim/{contender}: the sink did not receive {result['sent']} messages")
                    results.setdefault(f"{mib:g}", {}).setdefault(contender, []).append(result)
                    progress(f"dkim   {contender:8} {mib:g} MiB: {result['heap_mib']:.1f} MiB heap peak")
        finally:
            path.unlink()
    key.unlink()
    return results, report(results, sizes_mib, reps)


def _write_random(path: Path, size: int) -> None:
    import os

    with path.open("wb") as file:
        for start in range(0, size, 1 << 20):
            file.write(os.urandom(min(1 << 20, size - start)))


def _new_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode("ascii")


def _child(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return run_child(HERE / "bench_dkim.py", job, env, CHILD_TIMEOUT)


def report(results: dict[str, dict[str, list[dict[str, Any]]]], sizes_mib: tuple[float, float], reps: int) -> list[str]:
    """Case 10's table and target (Markdown lines)."""

    def cell(size: str, contender: str, key: str) -> str:
        values = [r[key] for r in results[size][contender]]
        digits = 2 if key == "seconds" else 1
        return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"

    def median(size: str, contender: str, key: str) -> float:
        return statistics.median(r[key] for r in results[size][contender])

    small, large = (f"{mib:g}" for mib in sizes_mib)
    lines = [
        f"10. DKIM signing with a file attachment of {small} and {large} MiB (HTML body, 2048-bit RSA, "
        f"relaxed/relaxed), built, signed and sent to the sink; median [min-max] over {reps} runs, contenders "
        "interleaved, a fresh interpreter each.",
        "",
        "| Contender | attachment (MiB) | peak RSS above baseline (MiB) | Python heap peak (MiB) | time (s) |",
        "|---|---|---|---|---|",
    ]
    for contender in CONTENDERS:
        for size in (small, large):
            cells = " | ".join(cell(size, contender, key) for key in ("peak_mib", "heap_mib", "seconds"))
            lines.append(f"| {LABELS[contender]} | {size} | {cells} |")
    added = {key: median(large, "ours", key) - median(large, "unsigned", key) for key in ("peak_mib", "heap_mib")}
    growth = median(large, "ours", "heap_mib") - median(small, "ours", "heap_mib")
    ok = all(value <= TARGET_MIB for value in (*added.values(), growth))
    lines += [
        "",
        f"Target: signing adds at most {TARGET_MIB:g} MiB to the unsigned peak at {large} MiB, and ours' heap peak "
        f"does not grow with the attachment: {'met' if ok else 'MISSED'} (RSS {added['peak_mib']:+.1f} MiB, heap "
        f"{added['heap_mib']:+.1f} MiB; heap {small} -> {large} MiB: {growth:+.1f} MiB; whole-message signing: "
        f"heap {median(large, 'whole', 'heap_mib'):.1f} MiB).",
    ]
    return lines


# -- the child -------------------------------------------------------------------------------------------------


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One contender: a small message first (everything lazy is imported), then the timed one, then one traced."""
    from bench_cases import PeakMeter, heap_peak_mib

    send = _sender(job["contender"], Path(job["key"]).read_text())
    warm = Path(job["path"]).with_suffix(".warm")
    warm.write_bytes(b"x" * 1024)
    try:
        send(warm)
    finally:
        warm.unlink()
    with PeakMeter() as meter:
        send(Path(job["path"]))
    heap = heap_peak_mib(lambda: send(Path(job["path"])))
    return {"peak_mib": meter.peak_mib, "heap_mib": heap, "seconds": meter.seconds, "sent": 3}


def _sender(contender: str, key: str) -> Any:
    import os

    from bench_cases import PORT_ENV

    from airflow_provider_smtpconn.message.compose import compose
    from airflow_provider_smtpconn.message.dkim import DkimSigner
    from airflow_provider_smtpconn.message.request import EmailRequest
    from airflow_provider_smtpconn.smtp.session import SmtpSession
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings

    port = int(os.environ[PORT_ENV])
    signer = DkimSigner.from_fields(DOMAIN, SELECTOR, key)
    settings = SmtpSettings(host="127.0.0.1", port=port, tls_mode="none", timeout=60)
    html = "<html><body><p>Hello,</p><p>the nightly report is attached.</p></body></html>"

    def send(path: Path) -> None:
        request = EmailRequest(to=RECIPIENT, from_email=SENDER, subject="Report", html=html, attachments=[path])
        message = compose(request)
        if contender == "whole":
            import smtplib

            import dkim

            data = message.as_bytes()
            relaxed = (b"relaxed", b"relaxed")
            data = dkim.sign(data, SELECTOR.encode(), DOMAIN.encode(), key.encode(), canonicalize=relaxed) + data
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                smtp.sendmail(SENDER, [RECIPIENT], data)
            return
        if contender == "ours":
            message = signer.sign(message)
        with SmtpSession(settings) as session:
            session.send(message)

    return send


if __name__ == "__main__":
    print(RESULT_PREFIX + json.dumps(run_job(json.loads(sys.argv[1]))), flush=True)
