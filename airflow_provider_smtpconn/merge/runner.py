"""The merge itself, in two passes over the rows: check every row, then send every row not yet done.

Nothing here knows Airflow: the operator passes in how to build a row's message (``prepare``), how to send one
(``send``), the journal, the pacing and the outcome log.
"""

from __future__ import annotations

import hashlib
import logging
import time
from array import array
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    InvalidMessageError,
    RecipientsRefusedError,
    SmtpPermanentError,
    SmtpProviderError,
    SmtpTemporaryFailure,
)
from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge import outcomes as o
from airflow_provider_smtpconn.merge.prefetch import Prefetch
from airflow_provider_smtpconn.merge.rows import RowKeyError, keyed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from airflow_provider_smtpconn.merge.journal import Earlier, MergeJournal
    from airflow_provider_smtpconn.merge.outcomes import Outcomes
    from airflow_provider_smtpconn.merge.pacing import RateLimiter, SessionBudget
    from airflow_provider_smtpconn.transport import SendResult

log = logging.getLogger(__name__)

ON_BAD_ROW = ("fail", "skip")
BAD_ROWS_SHOWN = 10
PROGRESS_SECONDS = 30.0


class BadRowsError(InvalidMessageError):
    """Some rows cannot become a message and ``on_bad_row`` is ``fail``: nothing was sent."""


class TooManyFailuresError(SmtpProviderError):
    """More rows failed than ``max_failures`` allows; the merge stopped. A retry sends only rows not yet done."""


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
    """One try of a merge. Call :meth:`check`, then :meth:`send`.

    :param rows: Iterable twice: ``(position, mapping)`` pairs (see :mod:`.rows`).
    :param prepare: ``prepare(key, mapping)`` renders and composes the row's message (anything with a
        ``message_id``, such as ``sending.PreparedEmail``); raises :class:`InvalidMessageError` for a bad row.
    :param send: ``send(prepared, on_commit=...)`` sends it over the open session and returns the
        ``SendResult``; partial refusals are in the result, not raised (``sending.deliver`` with
        ``on_refused="warn"``).
    :param close_session: Ends the current SMTP session (the next send opens a new one).
    """

    rows: Iterable[tuple[int, Mapping[str, Any]]]
    prepare: Callable[[str, Mapping[str, Any]], Any]
    send: Callable[..., SendResult]
    close_session: Callable[[], None]
    journal: MergeJournal
    limiter: RateLimiter
    budget: SessionBudget
    row_key: str | None = None
    on_bad_row: str = "fail"
    max_failures: Any = None
    done: dict[str, Earlier] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_bad_row not in ON_BAD_ROW:
            raise InvalidMessageError(f"on_bad_row {self.on_bad_row!r} is not 'fail' or 'skip'.")
        o.failure_limit(self.max_failures, 0)  # checked before any row is read

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
        """Send every good row not done by an earlier try, recording each outcome in row order; raises
        :class:`TooManyFailuresError` when ``max_failures`` is exceeded, and session-level errors as they come.

        A :class:`~.prefetch.Prefetch` thread renders and composes the next rows while this one waits for the
        server; sends, journal lines and outcomes all happen here.
        """
        limit = o.failure_limit(self.max_failures, check.valid + len(self.done))
        # Rows in doubt since an earlier try are reported, not counted again: else a crash, which leaves up to a
        # journal batch in doubt, would stop every retry before it sent the rows never sent.
        carried = sum(1 for earlier in self.done.values() if earlier.status == j.UNKNOWN)
        progress = time.monotonic()
        with Prefetch(self._ready(check)) as ready:
            for key, status, payload in ready:
                if status is not None:
                    outcomes.add(key, status, *payload)
                    continue
                self._send_one(outcomes, key, payload)
                if limit is not None and (failed := outcomes.failures - carried) > limit:
                    raise TooManyFailuresError(
                        f"{failed} row(s) were refused, failed or are unknown, more than max_failures "
                        f"{self.max_failures!r} allows ({limit} of {check.valid + len(self.done)}); the merge "
                        f"stopped after row {key!r}. A retry sends only the rows not yet accepted."
                    )
                if time.monotonic() - progress > PROGRESS_SECONDS:
                    progress = time.monotonic()
                    done = sum(outcomes.counts.values())
                    log.info("Mail merge: %d of %d rows done (%s).", done, check.rows, outcomes.counts)

    def _ready(self, check: Check) -> Iterator[tuple[str, str | None, Any]]:
        """Every row in order: ``(key, None, message)`` to send, or ``(key, status, (message_id, try_number,
        detail))`` for a row already decided (bad, a repeated key, or done by an earlier try).
        """
        seen_duplicates: set[int] = set()
        try_number = self.journal.try_number
        repeated = (lambda key: key_hash(key) in check.duplicates) if check.duplicates else None
        for position, key, mapping in self.journal.ahead(keyed(self.rows, self.row_key), repeated):
            if isinstance(key, RowKeyError):
                yield f"#{position}", o.SKIPPED, (None, try_number, f"row {position} {key}")
                continue
            if check.duplicates and (digest := key_hash(key)) in check.duplicates:
                if digest in seen_duplicates:
                    yield key, o.SKIPPED, (None, try_number, "repeats the row_key of an earlier row")
                    continue
                seen_duplicates.add(digest)
            earlier = self.done.get(key)
            if earlier is not None:
                status = (o.REFUSED if earlier.detail else o.SENT) if earlier.status == j.ACCEPTED else o.UNKNOWN
                yield key, status, (earlier.message_id, earlier.try_number, earlier.detail)
                continue
            try:
                message = self.prepare(key, mapping)
            except InvalidMessageError as exc:
                yield key, o.SKIPPED, (None, try_number, j.describe(exc))
                continue
            yield key, None, message

    def _send_one(self, outcomes: Outcomes, key: str, message: Any) -> None:
        journal = self.journal
        message_id = message.message_id
        self.limiter.wait()
        try:
            result = self.send(message, on_commit=lambda mid: journal.write(j.INTENT, key, mid))
        except RecipientsRefusedError as exc:
            detail = "refused " + "; ".join(f"{a} ({c} {t})" for a, (c, t) in exc.refused.items())
            self._record(outcomes, key, message_id, j.REFUSED, o.REFUSED, detail)
        except DeliveryUnknownError as exc:
            self._record(outcomes, key, message_id, j.UNKNOWN, o.UNKNOWN, str(exc))
        except SmtpTemporaryFailure as exc:
            if exc.code == 421:
                raise  # the server is closing sessions: not this row's fault
            self._record(outcomes, key, message_id, j.FAILED, o.FAILED, str(exc))
        except SmtpPermanentError as exc:
            self._record(outcomes, key, message_id, j.FAILED, o.FAILED, str(exc))
        else:
            detail = "refused " + "; ".join(f"{a} ({c} {t})" for a, (c, t) in result.refused.items())
            detail = detail if result.refused else ""
            self._record(outcomes, key, message_id, j.ACCEPTED, o.REFUSED if detail else o.SENT, detail)
        if self.budget.spend():
            self.close_session()

    def _record(self, outcomes: Outcomes, key: str, message_id: str, event: str, status: str, detail: str) -> None:
        detail = j.describe(detail)
        self.journal.write(event, key, message_id, detail)
        outcomes.add(key, status, message_id, self.journal.try_number, detail)


def _duplicates(hashes: array) -> set[int]:
    ordered = sorted(hashes)
    return {a for a, b in pairwise(ordered) if a == b}
