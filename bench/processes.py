"""The bench's helper processes: servers that print ``PORT <n>`` when ready, and children that print one result."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

RESULT_PREFIX = "@@result "


class HelperProcess:
    """A helper interpreter that prints ``PORT <n>`` once it listens, answers ``count`` with a line of numbers (a
    sink), and exits when its stdin closes.
    """

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"{args[0]} did not start: {line!r}")
        self.port = int(line.split()[1])

    def count(self) -> tuple[int, ...]:
        """What a sink has received so far: the numbers on its ``count`` line."""
        self.proc.stdin.write("count\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return tuple(int(x) for x in self.proc.stdout.readline().split())  # type: ignore[union-attr]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_child(script: Any, job: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``script`` with ``job`` (JSON) in a fresh interpreter and return the one result line it prints."""
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(job)],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"{script} failed ({proc.returncode}) for {job}:\n{proc.stderr[-4000:]}")
    return json.loads(lines[0].removeprefix(RESULT_PREFIX))
