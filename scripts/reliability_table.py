"""Print the README's "Reliability" tables from the outcomes the test suite recorded.

Run the suite with ``SMTPCONN_RELIABILITY_JSON`` naming a file, then this script on that file::

    rm -f /tmp/reliability.jsonl
    SMTPCONN_RELIABILITY_JSON=/tmp/reliability.jsonl .venv/bin/python -m pytest tests/guarantees/test_faults.py \\
        tests/guarantees/test_bad_input.py tests/guarantees/test_secrets.py tests/guarantees/test_load.py
    .venv/bin/python scripts/reliability_table.py /tmp/reliability.jsonl

Each line of the file is one JSON object with a ``section`` (faults, bad_input, bad_input_count, secrets, load);
if a case was recorded more than once (several runs into one file), the last record wins.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``section -> key -> row``, the last row of each key winning."""
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            key = str(row.get("case") or row.get("path") or row["section"])
            sections.setdefault(row["section"], {})[key] = row
    return sections


def fault_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Fault | Expected | Hook raised | Copies accepted (hook / operator) | Task state (try) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        raised = f"`{r['error']}`" if r["error"] else "delivered"
        copies = f"{r['copies_hook']} / {r['copies_operator']}"
        lines.append(f"| {r['case']} | {r['expected']} | {raised} | {copies} | {r['task_state']} ({r['task_try']}) |")
    return lines


def load_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Through | Messages | Received | Duplicates | Losses | Corrupted | Wall time | Messages/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['messages']:,} | {r['received']:,} | {r['duplicates']} | {r['losses']} | "
            f"{r['corrupted']} | {r['wall_seconds']:.1f} s | {r['per_second']:.0f} |"
        )
    return lines


def render(sections: dict[str, dict[str, dict[str, Any]]]) -> str:
    out: list[str] = []
    faults = list(sections.get("faults", {}).values())
    if faults:
        out += fault_table(faults)
        twice = sum(1 for r in faults if max(r["copies_hook"], r["copies_operator"]) > 1)
        out += ["", f"{len(faults)} fault cases; copies accepted twice: {twice}.", ""]
    count = sections.get("bad_input_count", {}).get("bad_input_count", {}).get("count")
    recorded = len(sections.get("bad_input", {}))
    if count or recorded:
        out += [
            f"Bad inputs tried: {count or recorded} (each failed before connecting, naming the field and value).",
            "",
        ]
    secrets = list(sections.get("secrets", {}).values())
    if secrets:
        leaks = sum(r.get("leaks", 0) for r in secrets)
        out += [f"Secret checks: {len(secrets)} runs, {leaks} leaks.", ""]
    loads = list(sections.get("load", {}).values())
    if loads:
        out += load_table(loads)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON-lines file named by SMTPCONN_RELIABILITY_JSON")
    args = parser.parse_args(argv)
    print(render(load(args.results)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
