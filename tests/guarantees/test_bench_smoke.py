"""The benchmark runs every case once at a tiny size, so it cannot rot. Nothing here is about speed.

``bench/run.py --quick`` semantics: every case, every contender, one repetition, tiny sizes, the counting sink on
loopback in its own process. The bench itself stops if the sink did not receive what a contender claims to
have sent; here we also check each figure exists and the sink saw bytes for every message case.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_bench():
    spec = importlib.util.spec_from_file_location("smtpconn_bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look their module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow
def test_every_case_gives_a_number_for_every_contender(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_bench()
    # The bench defines its connections in the environment; give them back when the test ends.
    for name in ("AIRFLOW_CONN_SMTPCONN_BENCH", "AIRFLOW_CONN_SMTP_BENCH", "SMTPCONN_BENCH_PORT"):
        monkeypatch.setenv(name, "")

    runner, text = bench.run_bench(list(bench.CASE_ORDER), bench.quick_config())

    for case, metrics in bench.METRICS.items():
        for contender in bench.CONTENDERS:
            runs = runner.results[case][contender]
            for key, label, _ in metrics:
                values = [run[key] for run in runs if key in run]
                assert values, f"{case}/{contender}: no {label}"
                assert all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values), (
                    case,
                    contender,
                    key,
                    values,
                )
    # What the sink received: every message case delivered bytes for every contender.
    for case in ("large", "many", "rows"):
        for contender in bench.CONTENDERS:
            assert all(run["wire_kib"] > 0 for run in runner.results[case][contender]), (case, contender)
    # The 0.25 MiB attachments arrived whole (base64 makes them about 4/3 larger). In quick mode one child sends
    # the whole case, so the sink's byte count is an average over the contenders' messages (warm-up + large).
    received_kib = sum(runner.results["large"][c][0]["wire_kib"] * 2 for c in bench.CONTENDERS)
    assert received_kib > len(bench.CONTENDERS) * 0.25 * 1024 * 4 / 3
    assert "| Case | Metric | ours | official | stdlib |" in text
    assert "Targets:" in text
    # Case 7, at a relay's distance, has contenders of its own; every one delivered what it claims.
    assert set(runner.results["relay"]) == {"official", "ours", "ours4", "floor", "floor_bdat"}
    assert "7. mail merge at a relay's distance" in text
    # Case 10, DKIM signing, has contenders of its own too; each delivered what it claims (checked by the bench).
    assert set(runner.results["dkim"]["0.25"]) == {"unsigned", "ours", "whole"}
    assert "10. DKIM signing" in text
