"""The merge itself, in two passes over the rows: check every row, then send every row not yet done.

Nothing here knows Airflow: the operator passes in how to build a row's message (``prepare``), how to open an
SMTP session (``open_session``), the journal, the pacing and the outcome log.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import (
    BadRowsError,
    InvalidMessageError,
    TooManyFailuresError,
)
from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge import outcomes as o
from airflow_provider_smtpconn.merge.pacing import SessionBudget, session_count
from airflow_provider_smtpconn.merge.prefetch import Prefetch
from airflow_provider_smtpconn.merge.recorder import Recorder
from airflow_provider_smtpconn.merge.rows import RowKeyError, keyed
from airflow_provider_smtpconn.merge.sender import run_sessions, send_rows

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from airflow_provider_smtpconn.merge.journal import Earlier, MergeJournal
    from airflow_provider_smtpconn.merge.outcomes import Outcomes
    from airflow_provider_smtpconn.merge.pacing import RateLimiter

log = logging.getLogger(__name__)

ON_BAD_ROW = ("fail", "skip")
BAD_ROWS_SHOWN = 10


@dataclass
class Check:
    """What the first pass found."""

    rows: int = 0
    valid: int = 0
    bad: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)
    duplicates: set[int] = field(default_factory=set)


def key_hash(key: str) -> int:
    """A 64-bit hash of a row key: what the duplicate check keeps per row (8 bytes, not the key)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@dataclass
class Merge:
    """One try of a merge. Call :meth:`check`, then :meth:`send_all`.

    :param rows: Iterable twice: ``(position, mapping)`` pairs (see :mod:`.rows`).
    :param prepare: ``prepare(key, mapping)`` renders and composes the row's message (a
        ``message.writer.WireMessage``); raises :class:`InvalidMessageError` for a
        bad row.
    :param open_session: A new SMTP session (``SmtpConnHook.new_session``): its ``stream`` sends the rows,
        pipelined when the server offers it; partial refusals are in the outcome, not raised.
    :param sessions: How many sessions send side by side (one journal, one pacing for all).
    :param messages_per_session: Each session starts a new connection after this many messages.
    """

    rows: Iterable[tuple[int, Mapping[str, Any]]]
    prepare: Callable[[str, Mapping[str, Any]], Any]
    open_session: Callable[[], Any]
    journal: MergeJournal
    limiter: RateLimiter
    sessions: int = 1
    messages_per_session: int | None = None
    row_key: str | None = None
    on_bad_row: str = "fail"
    max_failures: Any = None
    done: dict[str, Earlier] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_bad_row not in ON_BAD_ROW:
            raise InvalidMessageError(f"on_bad_row {self.on_bad_row!r} is not 'fail' or 'skip'.")
        o.failure_limit(self.max_failures, 0)  # checked before any row is read
        session_count(self.sessions)
        SessionBudget(self.messages_per_session)

    # -- pass 1 ---------------------------------------------------------------------------------------------

    def check(self) -> Check:
        """Render and compose every row not done by an earlier try, keeping only counts, the first bad rows and
        8 bytes per row for the duplicate-key check. Raises :class:`BadRowsError` (``on_bad_row="fail"``).
        """
        found = Check()
        hashes = array("Q")
        for position, key, mapping in keyed(self.rows, self.row_key):
            found.rows += 1
            if isinstance(key, RowKeyError):
                self._bad(found, f"#{position}", f"row {position} {key}")
                continue
            hashes.append(key_hash(key))
            if key in self.done:
                continue
            try:
                self.prepare(key, mapping)
            except InvalidMessageError as exc:
                self._bad(found, key, str(exc))
            else:
                found.valid += 1
        found.duplicates = _duplicates(hashes)
        if found.duplicates:
            self._name_duplicates(found)
        if found.bad and self.on_bad_row == "fail":
            shown = "; ".join(f"{k}: {r.rstrip('.')}" for k, r in found.examples)
            more = f" (and {found.bad - len(found.examples)} more)" if found.bad > len(found.examples) else ""
            raise BadRowsError(
                f"{found.bad} of {found.rows} rows cannot be sent, so nothing was sent (on_bad_row='fail'): "
                f"{shown}{more}. Fix them, or set on_bad_row='skip' to send the others."
            )
        return found

    def _bad(self, found: Check, key: str, reason: str) -> None:
        found.bad += 1
        if len(found.examples) < BAD_ROWS_SHOWN:
            found.examples.append((key, reason))

    def _name_duplicates(self, found: Check) -> None:
        seen: set[int] = set()
        for _, key, _mapping in keyed(self.rows, self.row_key):
            if isinstance(key, RowKeyError):
                continue
            digest = key_hash(key)
            if digest in found.duplicates:
                if digest in seen:
                    self._bad(found, key, f"repeats the row_key {key!r} of an earlier row")
                    found.valid -= key not in self.done
                seen.add(digest)

    # -- pass 2 ---------------------------------------------------------------------------------------------

    def send_all(self, outcomes: Outcomes, check: Check) -> None:
        """Send every good row not done by an earlier try, over ``sessions`` sessions, recording each outcome in
        row order; raises :class:`TooManyFailuresError` when ``max_failures`` is exceeded, and session-level
        errors as they come (after the other sessions finish the message in hand).

        A :class:`~.prefetch.Prefetch` thread renders and composes the next rows while the sessions wait for the
        server; journal lines and outcomes go through one :class:`~.recorder.Recorder`.
        """
        total = check.valid + len(self.done)
        limit = o.failure_limit(self.max_failures, total)
        # Rows in doubt since an earlier try are reported, not counted again: else a crash, which leaves up to a
        # journal batch in doubt, would stop every retry before it sent the rows never sent.
        carried = sum(1 for earlier in self.done.values() if earlier.status == j.UNKNOWN)

        def too_many(key: str) -> TooManyFailuresError:
            return TooManyFailuresError(
                f"{outcomes.failures - carried} row(s) were refused, failed or are unknown, more than max_failures "
                f"{self.max_failures!r} allows ({limit} of {total}); the merge stopped after row {key!r}. A retry "
                "sends only the rows not yet accepted."
            )

        recorder = Recorder(
            self.journal, outcomes, limit=limit, too_many=too_many, total_rows=check.rows, carried=carried
        )
        with Prefetch(self._ready(check)) as ready:
            send = partial(send_rows, self.open_session, ready, recorder, self.limiter, self.messages_per_session)
            try:
                run_sessions(self.sessions, send, recorder)
            finally:
                recorder.close()
        if recorder.error is not None:
            raise recorder.error

    def _ready(self, check: Check) -> Iterator[tuple[int, str, str | None, Any]]:
        """Every row in order, with its position: ``(position, key, None, message)`` to send, or ``(position, key,
        status, (message_id, try_number, detail))`` for a row already decided (bad, a repeated key, or done by an
        earlier try).
        """
        seen_duplicates: set[int] = set()
        try_number = self.journal.try_number
        repeated = (lambda key: key_hash(key) in check.duplicates) if check.duplicates else None
        rows = self.journal.ahead(keyed(self.rows, self.row_key), repeated)
        for index, (position, key, mapping) in enumerate(rows):
            if isinstance(key, RowKeyError):
                yield index, f"#{position}", o.SKIPPED, (None, try_number, f"row {position} {key}")
                continue
            if check.duplicates and (digest := key_hash(key)) in check.duplicates:
                if digest in seen_duplicates:
                    yield index, key, o.SKIPPED, (None, try_number, "repeats the row_key of an earlier row")
                    continue
                seen_duplicates.add(digest)
            earlier = self.done.get(key)
            if earlier is not None:
                status = (o.REFUSED if earlier.detail else o.SENT) if earlier.status == j.ACCEPTED else o.UNKNOWN
                yield index, key, status, (earlier.message_id, earlier.try_number, earlier.detail)
                continue
            try:
                message = self.prepare(key, mapping)
            except InvalidMessageError as exc:
                yield index, key, o.SKIPPED, (None, try_number, j.describe(exc))
                continue
            yield index, key, None, message


def _duplicates(hashes: array) -> set[int]:
    ordered = sorted(hashes)
    return {a for a, b in pairwise(ordered) if a == b}
