"""Per-row outcomes of a merge: counted as they happen, spooled to a temporary file (bounded memory), and
returned as a compact XCom and, on request, a CSV report.

Statuses: ``sent`` (accepted for every recipient), ``refused`` (the server refused some or all recipients;
``detail`` says which), ``failed`` (the server rejected the message or kept deferring it), ``unknown`` (the
connection was lost after the message was sent: it may have been delivered; never resent), ``skipped`` (a bad
row, with ``on_bad_row="skip"``).
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError

if TYPE_CHECKING:
    from collections.abc import Iterator

SENT, REFUSED, FAILED, UNKNOWN, SKIPPED = "sent", "refused", "failed", "unknown", "skipped"
STATUSES = (SENT, REFUSED, FAILED, UNKNOWN, SKIPPED)
#: Statuses that count against ``max_failures``.
FAILURES = (REFUSED, FAILED, UNKNOWN)
CSV_COLUMNS = ("row_key", "status", "message_id", "try_number", "detail")


def failure_limit(max_failures: Any, total: int) -> int | None:
    """How many failed rows are allowed among ``total``: ``max_failures`` is a count (a whole number), a
    fraction (a number between 0 and 1), or ``None`` (no limit). Raises :class:`InvalidMessageError`.
    """
    if max_failures is None:
        return None
    if isinstance(max_failures, bool) or not isinstance(max_failures, (int, float)) or not math.isfinite(max_failures):
        raise InvalidMessageError(f"max_failures {max_failures!r} is not a count, a fraction between 0 and 1, or None.")
    if isinstance(max_failures, int):
        if max_failures < 0:
            raise InvalidMessageError(f"max_failures {max_failures!r} is negative.")
        return max_failures
    if not 0 <= max_failures < 1:
        raise InvalidMessageError(
            f"max_failures {max_failures!r} is a fraction outside [0, 1); give a count as a whole number."
        )
    return math.floor(max_failures * total)


class Outcomes:
    """The outcomes of one try of a merge, in row order. Use as a context manager (the spool is deleted)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(STATUSES, 0)
        self._spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="smtpconn-outcomes-")  # noqa: SIM115

    def __enter__(self) -> Outcomes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._spool.close()

    @property
    def failures(self) -> int:
        """Rows refused, failed or unknown so far."""
        return sum(self.counts[s] for s in FAILURES)

    def add(self, key: str, status: str, message_id: str | None, try_number: int, detail: str = "") -> None:
        """Record one row's outcome."""
        self.counts[status] += 1
        self._spool.write(json.dumps([key, status, message_id, try_number, detail], ensure_ascii=False) + "\n")

    def __iter__(self) -> Iterator[list[Any]]:
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)
        self._spool.seek(0, 2)

    def summary(self, limit: int) -> dict[str, Any]:
        """The XCom: counts, and per-row ``[row_key, status, message_id, try_number, detail]`` lists.

        With more than ``limit`` rows, only the rows that were not sent are listed (at most ``limit`` of them)
        and ``outcomes_complete`` is false; the CSV report (``report_path``) always has every row.
        """
        from itertools import islice

        total = sum(self.counts.values())
        complete = total <= limit
        listed = islice((row for row in self if complete or row[1] != SENT), limit)
        return {
            **self.counts,
            "total": total,
            "outcome_columns": list(CSV_COLUMNS),
            "outcomes": list(listed),
            "outcomes_complete": complete,
        }

    def write_csv(self, file: IO[str]) -> None:
        """Write every row's outcome as CSV (with a header line) to the text ``file``."""
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        for row in self:
            writer.writerow(row)
