"""Each row's outcome, recorded once, whichever session decided it: a journal line at once, and the row in the
outcomes in row order (a row decided early waits for the rows before it).

The sessions of a merge run side by side, so the journal and the outcomes are written behind one lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import DeliveryUnknownError, RecipientsRefusedError
from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge import outcomes as o
from airflow_provider_smtpconn.smtp.replies import describe

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.merge.journal import MergeJournal
    from airflow_provider_smtpconn.merge.outcomes import Outcomes
    from airflow_provider_smtpconn.smtp.transaction import SendOutcome

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 30.0


def classify(outcome: SendOutcome) -> tuple[str, str, str]:
    """A message's outcome as ``(journal event, row status, detail)``: accepted (``sent``, or ``refused`` when
    some recipients were), refused (every recipient), unknown (no answer after the final dot), else failed.
    """
    error = outcome.error
    if error is None:
        refused = outcome.result.refused if outcome.result is not None else {}
        detail = _refused(refused) if refused else ""
        return j.ACCEPTED, o.REFUSED if detail else o.SENT, detail
    if isinstance(error, RecipientsRefusedError):
        return j.REFUSED, o.REFUSED, _refused(error.refused)
    if isinstance(error, DeliveryUnknownError):
        return j.UNKNOWN, o.UNKNOWN, str(error)
    return j.FAILED, o.FAILED, str(error)


def _refused(refused: dict[str, tuple[int, str]]) -> str:
    return "refused " + describe(refused)


class Recorder:
    """Records the rows of one try of a merge, thread-safe; stops the merge past the failure limit.

    A message's tag is ``(position, row key, Message-ID)``; positions count every row from 0, in row order.

    :param limit: The failures allowed (``None``: no limit); past it, ``too_many(row_key)`` is kept as
        :attr:`error` and the merge stops.
    :param total_rows: The rows checked, for the progress line.
    """

    def __init__(
        self,
        journal: MergeJournal,
        outcomes: Outcomes,
        *,
        limit: int | None,
        too_many: Callable[[str], Exception],
        total_rows: int,
        carried: int = 0,
    ) -> None:
        self.journal = journal
        self.outcomes = outcomes
        self.limit = limit
        self._carried = carried
        self.error: Exception | None = None
        self._too_many = too_many
        self._total = total_rows
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._waiting: dict[int, list[Any]] = {}
        self._next = 0
        self._progress = time.monotonic()

    @property
    def stopped(self) -> bool:
        """Whether the merge is stopping (too many failures, or a session failed): send nothing more."""
        return self._stopped.is_set()

    def stop(self) -> None:
        """Stop the merge: sessions finish the message in hand and send nothing more."""
        self._stopped.set()

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if the merge stops meanwhile; returns whether it stopped."""
        return self._stopped.wait(seconds)

    def intent(self, tag: tuple[int, str, str]) -> None:
        """The journal's ``intent`` line, right before the message's final dot."""
        _, key, message_id = tag
        with self._lock:
            self.journal.write(j.INTENT, key, message_id)

    def sent(self, tag: tuple[int, str, str], outcome: SendOutcome) -> None:
        """A message's outcome: its journal line, then its row."""
        position, key, message_id = tag
        event, status, detail = classify(outcome)
        detail = j.describe(detail)
        with self._lock:
            self.journal.write(event, key, message_id, detail)
            self._add(position, [key, status, message_id, self.journal.try_number, detail])

    def decided(self, position: int, key: str, status: str, payload: tuple[Any, ...]) -> None:
        """A row decided without sending (bad, a repeated key, done by an earlier try): ``payload`` is
        ``(message_id, try_number, detail)``.
        """
        with self._lock:
            self._add(position, [key, status, *payload])

    def close(self) -> None:
        """Add the rows still waiting behind rows that were never decided (the merge stopped), in row order."""
        with self._lock:
            for position in sorted(self._waiting):
                self.outcomes.add(*self._waiting.pop(position))

    def _add(self, position: int, row: list[Any]) -> None:
        self._waiting[position] = row
        while self._next in self._waiting:
            row = self._waiting.pop(self._next)
            self._next += 1
            self.outcomes.add(*row)
            if self.limit is not None and self.error is None and self.outcomes.failures - self._carried > self.limit:
                self.error = self._too_many(row[0])
                self._stopped.set()
        if time.monotonic() - self._progress > PROGRESS_SECONDS:
            self._progress = time.monotonic()
            done = sum(self.outcomes.counts.values())
            log.info("Mail merge: %d of %d rows done (%s).", done, self._total, self.outcomes.counts)
