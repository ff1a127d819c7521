"""Side-by-side benchmark: this provider vs. the official SMTP provider vs. plain smtplib, on a loopback sink.

Usage: ``python bench/run.py [--quick] [--reps N] [--cases large,many,import,rows] [--json PATH]``
(``make bench`` runs it with the defaults). Everything binds and sends to 127.0.0.1 only.

A counting SMTP sink (aiosmtpd) runs in its own process. Each case runs every contender in turn, interleaved
A, B, C, A, B, C ... so drift hits them all; each figure is the median of the repetitions with its min-max
spread. Cases 1 and 4 (memory) and 3 (import cost) run each repetition in a fresh interpreter; case 2
(throughput) runs in this process. The sink's counters are checked after every run: a contender that did not
deliver what it claimed stops the bench. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cases  # noqa: E402
import bench_reports  # noqa: E402
from bench_cases import CONTENDERS  # noqa: E402
from processes import HelperProcess  # noqa: E402

CASE_ORDER = ("large", "many", "import", "rows", "merge", "mergemem", "relay", "report", "door", "dkim", "journal")
CHILD_TIMEOUT = 600  # seconds for one child interpreter; every run is bounded


@dataclass
class Config:
    reps: dict[str, int]
    large_mib: float = 25
    many_n: int = 1000
    rows_n: int = 100_000
    warm_many: int = 20
    merge_n: int = 10_000
    mem_rows: tuple[int, int] = (10_000, 50_000)
    relay_n: int = 300
    dkim_mib: tuple[float, float] = (5, 25)
    batch_children: bool = False  # quick mode: one child runs all of a case's jobs (no memory isolation)


def full_config(reps: int | None = None) -> Config:
    defaults = {
        "large": 5,
        "many": 3,
        "import": 5,
        "rows": 5,
        "merge": 3,
        "mergemem": 2,
        "relay": 3,
        "report": 5,
        "door": 3,
        "dkim": 3,
        "journal": 3,
    }
    return Config(reps={c: reps or n for c, n in defaults.items()})


def quick_config(reps: int | None = None) -> Config:
    return Config(
        reps={c: reps or 1 for c in CASE_ORDER},
        large_mib=0.25,
        many_n=5,
        rows_n=200,
        warm_many=1,
        merge_n=20,
        mem_rows=(30, 150),
        relay_n=6,
        dkim_mib=(0.05, 0.25),
        batch_children=True,
    )


# -- the sink process ----------------------------------------------------------------------------------------


class Sink(HelperProcess):
    """The counting sink in its own interpreter; :meth:`count` asks it what arrived so far."""

    def __init__(self) -> None:
        super().__init__(str(HERE / "bench_sink.py"))

    def count(self) -> tuple[int, int]:  # type: ignore[override]
        messages, size = super().count()
        return messages, size


# -- running jobs --------------------------------------------------------------------------------------------


@dataclass
class Runner:
    config: Config
    sink: Sink
    env: dict[str, str]
    tmpdir: Path
    results: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    relay_report: list[str] = field(default_factory=list)
    dkim_report: list[str] = field(default_factory=list)
    import_breakdown: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # cases with contenders of their own (bench_journal)

    def record(self, case: str, contender: str, result: dict[str, Any], delivered: tuple[int, int]) -> None:
        """Keep ``result`` after checking the sink received what the contender says it sent."""
        messages, size = delivered
        if messages != result["sent"]:
            raise RuntimeError(f"{case}/{contender}: sent {result['sent']} messages but the sink received {messages}")
        result["wire_kib"] = size / 1024 / messages if messages else 0.0
        self.results.setdefault(case, {}).setdefault(contender, []).append(result)

    def child(self, jobs: list[dict[str, Any]], *, importtime: bool = False) -> list[tuple[dict[str, Any], str]]:
        """Run ``jobs`` in one fresh interpreter; each result with the child's stderr."""
        flags = ["-X", "importtime"] if importtime else []
        proc = subprocess.run(
            [sys.executable, *flags, str(HERE / "bench_cases.py"), json.dumps(jobs)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            env=self.env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"bench child failed ({proc.returncode}) for {jobs}:\n{proc.stderr[-4000:]}")
        results = [json.loads(x.removeprefix(bench_cases.RESULT_PREFIX)) for x in proc.stdout.splitlines()
                   if x.startswith(bench_cases.RESULT_PREFIX)]  # fmt: skip
        if len(results) != len(jobs):
            raise RuntimeError(
                f"bench child returned {len(results)} results for {len(jobs)} jobs:\n{proc.stderr[-4000:]}"
            )
        return [(r, proc.stderr) for r in results]

    def delivered_by(self, run: Any) -> tuple[Any, tuple[int, int]]:
        before = self.sink.count()
        value = run()
        after = self.sink.count()
        return value, (after[0] - before[0], after[1] - before[1])

    def run_child_case(self, case: str, params: dict[str, Any]) -> None:
        reps = self.config.reps[case]
        modes: list[dict[str, Any]] = [{}]
        if case == "import":
            modes = [{"mode": "time"}, {"mode": "heap"}]
        elif case == "mergemem":
            modes = [{"n": n, "size": size} for n, size in zip(self.config.mem_rows, ("small", "large"), strict=True)]
        jobs = [{"case": case, "contender": c, **params, **m} for _ in range(reps) for m in modes for c in CONTENDERS]
        importtime = case == "import"
        if self.config.batch_children:
            outputs, (messages, size) = self.delivered_by(lambda: self.child(jobs, importtime=importtime))
            sent = sum(result["sent"] for result, _ in outputs)
            if messages != sent:
                raise RuntimeError(f"{case}: the children sent {sent} messages but the sink received {messages}")
            for index, (job, (result, stderr)) in enumerate(zip(jobs, outputs, strict=True)):
                share = (result["sent"], size * result["sent"] // messages if messages else 0)
                self.finish(case, job["contender"], result, stderr, share, occurrence=index)
            return
        for job in jobs:
            [(result, stderr)], delivered = self.delivered_by(lambda job=job: self.child([job], importtime=importtime))
            self.finish(case, job["contender"], result, stderr, delivered)
            progress(f"{case:6} {job['contender']:8} {summary(case, result)}")

    def finish(
        self,
        case: str,
        contender: str,
        result: dict[str, Any],
        stderr: str,
        delivered: tuple[int, int],
        occurrence: int = 0,
    ) -> None:
        if case == "import" and "wall_ms" in result:
            result["importtime_ms"], largest = bench_cases.importtime_ms(stderr, occurrence)
            self.import_breakdown.setdefault(contender, largest)
        self.record(case, contender, result, delivered)

    def run_in_process(self, case: str, send: Any) -> None:
        """Cases 2 and 7: ``send(contender, items)`` in this process, after one warm-up each."""
        cfg = self.config
        items = bench_cases.personalised(cfg.many_n)
        warm = bench_cases.personalised(cfg.warm_many)
        for contender in CONTENDERS:  # import and connect once before anything is timed
            result, delivered = self.delivered_by(lambda c=contender: send(c, warm))
            if delivered[0] != len(warm):
                raise RuntimeError(f"{case}/{contender} warm-up: sent {len(warm)}, the sink received {delivered[0]}")
        for _ in range(cfg.reps[case]):
            for contender in CONTENDERS:
                result, delivered = self.delivered_by(lambda c=contender: send(c, items))
                self.record(case, contender, result, delivered)
                progress(f"{case:6} {contender:8} {summary(case, result)}")

    def run(self, cases: list[str]) -> None:
        cfg = self.config
        for case in cases:
            if case == "large":
                big = self.tmpdir / "attachment-25MiB.bin"
                write_random(big, int(cfg.large_mib * 1024 * 1024))
                write_random(self.tmpdir / "warm.bin", 1024)
                self.run_child_case("large", {"path": str(big), "warm_path": str(self.tmpdir / "warm.bin")})
                big.unlink()
            elif case == "many":
                self.run_in_process("many", bench_cases.case_many)
            elif case == "door":
                self.run_in_process("door", bench_cases.case_door)
            elif case == "import":
                self.run_child_case("import", {})
            elif case == "rows":
                self.run_child_case("rows", {"n": cfg.rows_n, "tmpdir": str(self.tmpdir)})
            elif case == "merge":
                self.run_child_case("merge", {"n": cfg.merge_n, "tmpdir": str(self.tmpdir)})
            elif case == "mergemem":
                self.run_child_case("mergemem", {"tmpdir": str(self.tmpdir)})
            elif case == "report":
                self.run_child_case("report", {"n": cfg.rows_n, "tmpdir": str(self.tmpdir)})
            elif case == "relay":
                import bench_relay

                relay = bench_relay.run_case(cfg.relay_n, cfg.reps["relay"], self.env, str(self.tmpdir), progress)
                self.results["relay"], self.relay_report = relay
            elif case == "dkim":
                import bench_dkim

                dkim = bench_dkim.run_case(
                    cfg.dkim_mib, cfg.reps["dkim"], self.env, str(self.tmpdir), self.sink, progress
                )
                self.results["dkim"], self.dkim_report = dkim
            elif case == "journal":
                import bench_journal

                self.notes += ["", *bench_journal.run_case(self)]


def write_random(path: Path, size: int) -> None:
    """An incompressible file of ``size`` bytes, written in 1 MiB pieces."""
    with path.open("wb") as file:
        left = size
        while left > 0:
            piece = min(left, 1024 * 1024)
            file.write(os.urandom(piece))
            left -= piece


def progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def summary(case: str, result: dict[str, Any]) -> str:
    if case in ("many", "merge", "door"):
        return f"{result['rate']:.0f} msg/s"
    if case == "mergemem":
        size = "small" if "small_total_mib" in result else "large"
        return f"{result['n']:,} rows: {result[size + '_total_mib']:.1f} MiB peak RSS, {result['seconds']:.1f} s"
    if case == "import":
        if "heap_kib" in result:
            return f"{result['heap_kib']:.0f} KiB heap"
        return f"{result['importtime_ms']:.1f} ms, {result['rss_mib']:.2f} MiB RSS"
    return f"{result['peak_mib']:.1f} MiB peak, {result['seconds']:.2f} s"


# -- the report ----------------------------------------------------------------------------------------------

# (case, key, label, higher_is_better)
METRICS = {
    "large": [
        ("peak_mib", "peak RSS above baseline (MiB)", False),
        ("heap_mib", "Python heap peak (MiB, tracemalloc)", False),
        ("seconds", "build + send time (s)", False),
    ],
    "many": [
        ("rate", "messages/s", True),
        ("cpu_ms", "client CPU per message (ms)", False),
        ("wire_kib", "size on the wire (KiB/msg)", None),
    ],
    "import": [
        ("importtime_ms", "import time (ms, -X importtime)", False),
        ("heap_kib", "Python heap added (KiB, tracemalloc)", False),
        ("rss_mib", "RSS added (MiB)", False),
    ],
    "rows": [
        ("peak_mib", "peak RSS above baseline (MiB)", False),
        ("heap_mib", "Python heap peak (MiB, tracemalloc)", False),
        ("seconds", "CSV + build + send time (s)", False),
    ],
    "merge": [
        ("rate", "messages/s", True),
        ("cpu_ms", "client CPU per message (ms)", False),
        ("wire_kib", "size on the wire (KiB/msg)", None),
    ],
    "door": [
        ("rate", "messages/s", True),
        ("cpu_ms", "client CPU per message (ms)", False),
        ("wire_kib", "size on the wire (KiB/msg)", None),
    ],
    "mergemem": [
        ("small_total_mib", "peak RSS, fewer rows (MiB)", False),
        ("large_total_mib", "peak RSS, 5x the rows (MiB)", False),
        ("small_peak_mib", "peak RSS above baseline, fewer rows (MiB)", False),
        ("large_peak_mib", "peak RSS above baseline, 5x the rows (MiB)", False),
    ],
    "report": bench_reports.METRICS,
}


def case_titles(cfg: Config) -> dict[str, str]:
    return {
        "large": f"1. {cfg.large_mib:g} MiB file attachment",
        "many": f"2. {cfg.many_n:,} messages, one session",
        "import": "3. import the operator after airflow.sdk",
        "rows": f"4. {cfg.rows_n:,} rows x 10 columns to CSV",
        "merge": f"5. mail merge, {cfg.merge_n:,} personalised messages",
        "mergemem": f"6. mail merge from SQLite, {cfg.mem_rows[0]:,} vs {cfg.mem_rows[1]:,} rows",
        "report": bench_reports.title(cfg.rows_n),
        "door": f"9. {cfg.many_n:,} standard library EmailMessage objects to the hook, one session",
    }


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def medians(results: dict[str, Any], case: str, key: str) -> dict[str, float]:
    return {c: statistics.median(r[key] for r in runs if key in r) for c, runs in results.get(case, {}).items()}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(runner: Runner, cases: list[str], wall: float, started: datetime) -> str:
    cfg, results = runner.config, runner.results
    titles = case_titles(cfg)
    lines = [
        f"Date: {started:%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, {versions()}; "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}; package at {git_state()}.",
        "Each figure: median [min-max] over the repetitions; contenders interleaved A, B, C, A, B, C ...; "
        "repetitions: " + ", ".join(f"case {CASE_ORDER.index(c) + 1}: {cfg.reps[c]}" for c in cases) + ".",
    ]
    shared = [c for c in cases if c in METRICS]  # case 7 (relay) has contenders of its own, reported below
    if shared:
        lines += [
            "",
            "| Case | Metric | ours | official | stdlib | ours / official | ours / stdlib |",
            "|---|---|---|---|---|---|---|",
        ]
    for case in shared:
        for index, (key, label, _) in enumerate(METRICS[case]):
            cells = []
            for contender in CONTENDERS:
                median, low, high = stats([r[key] for r in results[case][contender] if key in r])
                cells.append(f"{fmt(median)} [{fmt(low)}-{fmt(high)}]")
            m = medians(results, case, key)
            title = titles[case] if index == 0 else ""
            lines.append(
                f"| {title} | {label} | {' | '.join(cells)} | {ratio(m['ours'], m['official'])} | "
                f"{ratio(m['ours'], m['stdlib'])} |"
            )
    if shared:
        lines += ["", *targets(runner, cases)]
    if runner.relay_report:
        lines += ["", *runner.relay_report]
    if runner.dkim_report:
        lines += ["", *runner.dkim_report]
    if runner.notes:
        lines += runner.notes
    if "import" in cases:
        lines.append("")
        for contender in CONTENDERS:
            largest = ", ".join(f"{name} {ms:.1f}" for ms, name in runner.import_breakdown.get(contender, [])[:3])
            lines.append(f"Largest imports by self time (ms), {contender}: {largest or '-'}.")
    lines += ["", f"Bench wall time: {wall:.0f} s."]
    return "\n".join(lines)


def targets(runner: Runner, cases: list[str]) -> list[str]:
    cfg, results = runner.config, runner.results
    out = ["Targets:"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if "large" in cases:
        limit = 3 * cfg.large_mib
        for key, what in (("peak_mib", "RSS"), ("heap_mib", "Python heap")):
            peak = medians(results, "large", key)
            out.append(
                f"- 1. ours' peak {what} <= 3x the attachment ({limit:g} MiB): {verdict(peak['ours'] <= limit)} "
                f"({fmt(peak['ours'])} MiB = {peak['ours'] / cfg.large_mib:.2f}x the attachment); "
                f"<= 1/3 of official's: {verdict(peak['ours'] <= peak['official'] / 3)} "
                f"(ours / official = {ratio(peak['ours'], peak['official'])})."
            )
    if "many" in cases:
        rate = medians(results, "many", "rate")
        out.append(
            f"- 2. ours >= 0.9x stdlib's messages/s: {verdict(rate['ours'] >= 0.9 * rate['stdlib'])} "
            f"(ours / stdlib = {rate['ours'] / rate['stdlib']:.2f}; ours / official = "
            f"{rate['ours'] / rate['official']:.2f})."
        )
    if "import" in cases:
        ms = medians(results, "import", "importtime_ms")
        heap = medians(results, "import", "heap_kib")
        rss = medians(results, "import", "rss_mib")
        out.append(
            f"- 3. ours' import cost <= official's: time {verdict(ms['ours'] <= ms['official'])} "
            f"({fmt(ms['ours'])} vs {fmt(ms['official'])} ms, {ratio(ms['ours'], ms['official'])}); heap "
            f"{verdict(heap['ours'] <= heap['official'])} ({fmt(heap['ours'])} vs {fmt(heap['official'])} KiB, "
            f"{ratio(heap['ours'], heap['official'])}); RSS {verdict(rss['ours'] <= rss['official'])} "
            f"({fmt(rss['ours'])} vs {fmt(rss['official'])} MiB; page-granular, moves with allocator state)."
        )
    if "rows" in cases:
        out.append("- 4. reported only (no target).")
    if "merge" in cases:
        rate = medians(results, "merge", "rate")
        out.append(
            f"- 5. ours >= 1.5x official's messages/s: {verdict(rate['ours'] >= 1.5 * rate['official'])} "
            f"(ours / official = {rate['ours'] / rate['official']:.2f}); >= 0.5x the floor (stdlib, prebuilt bytes): "
            f"{verdict(rate['ours'] >= 0.5 * rate['stdlib'])} (ours / stdlib = {rate['ours'] / rate['stdlib']:.2f}; "
            f"official / stdlib = {rate['official'] / rate['stdlib']:.2f})."
        )
    if "door" in cases:
        rate = medians(results, "door", "rate")
        out.append(
            f"- 9. ours >= 1.0x official's messages/s: {verdict(rate['ours'] >= rate['official'])} "
            f"(ours / official = {rate['ours'] / rate['official']:.2f}; ours / stdlib send_message = "
            f"{rate['ours'] / rate['stdlib']:.2f})."
        )
    if "mergemem" in cases:
        small, large = medians(results, "mergemem", "small_total_mib"), medians(results, "mergemem", "large_total_mib")
        growth = large["ours"] / small["ours"] - 1
        out.append(
            f"- 6. ours' peak RSS with 5x the rows within 10% of it with fewer: {verdict(abs(growth) <= 0.10)} "
            f"({fmt(small['ours'])} -> {fmt(large['ours'])} MiB, {growth:+.1%}; "
            f"official {growth_of(small, large, 'official')}, stdlib {growth_of(small, large, 'stdlib')})."
        )
    if "report" in cases:
        rows = medians(results, "rows", "peak_mib") if "rows" in cases else None
        out.append(bench_reports.target(medians(results, "report", "peak_mib"), rows))
    return out


def growth_of(small: dict[str, float], large: dict[str, float], contender: str) -> str:
    return f"{large[contender] / small[contender] - 1:+.1%}" if small.get(contender) else "-"


def git_state() -> str:
    """The commit the package was measured at, and whether the working tree differed from it (read only)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "airflow_provider_smtpconn"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit"
    return f"commit {commit}" + (" plus uncommitted changes" if dirty else "")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("airflow-provider-smtpconn", "apache-airflow-providers-smtp", "apache-airflow", "aiosmtpd"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


# -- entry point ---------------------------------------------------------------------------------------------


def prepare_environment(tmpdir: Path) -> None:
    """A throwaway Airflow home unless one is set, before Airflow is imported here or in a child."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = str(tmpdir / "airflow-home")
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmpdir}/airflow-home/airflow.db"
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def compile_our_package() -> None:
    """Byte-compile this checkout's package, as pip does for an installed one.

    The contenders in site-packages were compiled when pip installed them; an editable install is not, and under
    PYTHONDONTWRITEBYTECODE it would be compiled again on every import, which case 3 would then measure.
    """
    import compileall

    import airflow_provider_smtpconn

    compileall.compile_dir(Path(airflow_provider_smtpconn.__file__).parent, quiet=1)


def run_bench(cases: list[str], config: Config) -> tuple[Runner, str]:
    """Run ``cases`` with ``config``; the runner (raw results) and the printed report."""
    compile_our_package()
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smtpconn-bench-") as tmp:
        tmpdir = Path(tmp)
        prepare_environment(tmpdir)
        sink = Sink()
        try:
            os.environ.update(bench_cases.connection_env(sink.port))
            runner = Runner(config, sink, dict(os.environ), tmpdir)
            runner.run(cases)
        finally:
            sink.close()
    return runner, report(runner, cases, time.perf_counter() - t0, started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (a smoke run)")
    parser.add_argument("--reps", type=int, help="repetitions per case (default: 5; 3 for case 2)")
    parser.add_argument(
        "--cases", default=",".join(CASE_ORDER), help="comma-separated subset of " + ",".join(CASE_ORDER)
    )  # merge: 10,000 personalised messages; mergemem: peak memory, 10,000 vs 50,000 rows; relay: 20 ms away
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    cases = [c for c in CASE_ORDER if c in args.cases.split(",")]
    if not cases:
        parser.error(f"--cases must name some of {CASE_ORDER}")
    if args.reps is not None and not 1 <= args.reps <= 100:
        parser.error("--reps must be between 1 and 100")
    config = quick_config(args.reps) if args.quick else full_config(args.reps)
    runner, text = run_bench(cases, config)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(runner.results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
