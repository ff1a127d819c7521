"""The merge's journal in Airflow's task state store (AIP-103, Airflow 3.3 and later): every try of a task
instance reads it, on whichever worker or pod it runs, so a retry on another machine never resends a row.

A store write is a round trip to the API server and a database commit, so the journal never writes once per
message. It names rows in advance, a step of ``batch_size // 2`` rows per write: before the final ``.`` of the
first row of a step, that step's ``intent`` is in the store, and the write naming the next step is under way on a
thread of its own (:mod:`.journal_writer`), carrying the outcomes of the rows answered since the last write. So
the sender waits for the store only when it is slower than sending half a batch, and after a crash (the worker
killed, the pod evicted) at most ``batch_size`` rows are in doubt: named, with no recorded outcome (plus, with
several sessions, the messages still awaiting their reply). A retry reports them ``unknown`` and never resends
them. A try that ends in any other way records every outcome and withdraws the intent for the rows it never sent.

Values: JSON under the keys ``smtpconn.mail-merge.0``, ``.1``, ... (segments) of this task instance (the store
scopes keys by DAG run, task and map index; retries share them). A segment is rewritten as it grows, up to
:data:`SEGMENT_BYTES` or the store's ``max_value_storage_bytes`` if lower (64 KiB by default, Airflow's
``[state_store]`` section) and :data:`SEGMENT_ROWS`, then the next one starts; each try starts after the last
existing one. Loading reads segments in order up to the first missing one: one read per 2,000 rows or 16 KiB
of journal. Segments are compact (:mod:`.journal_segments`): keys in sequence as ranges, derived Message-IDs left
out.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge.journal import INTENT, WITHDRAWN, Earlier, JournalError, apply_event
from airflow_provider_smtpconn.merge.journal_segments import (
    OVERHEAD,
    Entry,
    entry_cost,
    read_segment,
    segment_value,
    value_size,
)
from airflow_provider_smtpconn.merge.journal_writer import STORE, StoreWriter, brief
from airflow_provider_smtpconn.message.compose import make_message_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import timedelta

log = logging.getLogger(__name__)

SEGMENT_KEY = "smtpconn.mail-merge.{}"
SEGMENT_BYTES = 16 * 1024
#: Rows per segment at most, so that rewriting one as it grows costs a bounded time, however well it packs.
SEGMENT_ROWS = 2_000
#: At most this many rows are in doubt after a crash; a store write per half of it.
DEFAULT_BATCH_SIZE = 50
MAX_BATCH_SIZE = 10_000


class TaskStateStore(Protocol):
    """What the journal uses of ``context["task_state_store"]`` (``TaskStateStoreAccessor``)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """Store ``value`` under ``key``."""


def check_batch_size(value: Any) -> int:
    """``journal_batch_size`` as given, or :class:`InvalidMessageError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_SIZE:
        raise InvalidMessageError(f"journal_batch_size {value!r} is not a whole number from 1 to {MAX_BATCH_SIZE}.")
    return value


class StateStoreJournal:
    """One task instance's journal in the task state store. Use :meth:`load` first, then :meth:`ahead` over the
    rows to send and :meth:`write` per event, from any number of threads; :meth:`close` (or leaving the ``with``
    block) writes what is pending.

    :param store: ``context["task_state_store"]``.
    :param try_number: This try, recorded with its events.
    :param batch_size: At most this many rows in doubt after a crash; a write names half of them.
    :param identity: What the rows' Message-IDs are derived from besides the row key (``(dag_id, task_id,
        run_id, map_index)``); a Message-ID derived so is not stored.
    :param max_value_bytes: The store's ``max_value_storage_bytes`` (0: no limit); segments stay below it.
    """

    def __init__(
        self,
        store: TaskStateStore,
        try_number: int,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        identity: tuple[Any, ...] = (),
        max_value_bytes: int = 0,
    ) -> None:
        self.try_number = try_number
        self.batch_size = check_batch_size(batch_size)
        self.where = f"{STORE}, at most {self.batch_size} rows in doubt"
        self._step = max(1, self.batch_size // 2)  # rows named by one write; the next step is named ahead
        self._store, self._identity, self._writer = store, tuple(identity), StoreWriter(store)
        self._cap = SEGMENT_BYTES if max_value_bytes <= 0 else min(SEGMENT_BYTES, max_value_bytes)
        self._lock = threading.Lock()
        self._segment = 0  # this try's current segment
        self._written: dict[str, Entry] | None = None  # what that segment holds, once written
        self._pending: dict[str, Entry] = {}
        self._upcoming: dict[str, None] = {}  # keys announced by ahead(), in order, not yet named by an intent
        self._named: dict[str, int] = {}  # named by an intent, no outcome yet -> the ticket of that write
        self._latest = 0  # the ticket of the newest intent
        self._committed: set[str] = set()  # of those: the final dot may have gone out
        self._done: dict[str, Earlier] = {}
        self._domain: str | None = None

    # -- reading ---------------------------------------------------------------------------------------

    def load(self) -> dict[str, Earlier]:
        """What earlier tries recorded as done, by row key (as :meth:`.journal.Journal.load` returns it).

        :raises JournalError: if the store cannot be read, or holds a segment that is not a journal's.
        """
        done: dict[str, Earlier] = {}
        for number in count():
            key = SEGMENT_KEY.format(number)
            try:
                value = self._store.get(key)
            except Exception as exc:  # the accessor raises AirflowRuntimeError, or the API client's errors
                raise JournalError(
                    f"{STORE} could not be read for the mail merge journal ({key!r}: {brief(exc)}); nothing was "
                    "sent, and a retry reads it again."
                ) from None
            if value is None:
                self._segment = number
                break
            try:
                for event, row, message_id, try_number, detail in read_segment(value, self._identity):
                    apply_event(done, event, row, message_id, try_number, detail)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise JournalError(
                    f"{STORE} holds {key!r} for this task instance, but not as a mail merge journal ({exc}); "
                    "delete that key if something else wrote it."
                ) from None
        self._done = done
        return done

    # -- writing ---------------------------------------------------------------------------------------

    def ahead(self, rows: Iterable[tuple[int, Any, Any]], skip: Callable[[str], bool] | None = None) -> Iterator[Any]:
        """Yield ``rows`` (``(position, key, mapping)``) ``batch_size`` rows behind reading them, so that the keys
        of the rows to come are known when an intent names them. Keys done by earlier tries, keys for which
        ``skip`` is true (a repeated ``row_key``) and rows without a key are not named in advance.
        """
        window: deque[tuple[int, Any, Any]] = deque()
        for row in rows:
            key = row[1]
            if isinstance(key, str) and key not in self._done and not (skip is not None and skip(key)):
                with self._lock:
                    self._upcoming[key] = None
            window.append(row)
            if len(window) > self.batch_size:
                yield window.popleft()
        yield from window

    @property
    def writes(self) -> int:
        """Store writes asked for by this try."""
        return self._writer.submitted

    @property
    def waited(self) -> float:
        """Seconds the merge waited for the store (a final dot whose intent was not in the store yet)."""
        return self._writer.waited

    def write(self, event: str, key: str, message_id: str, detail: str = "") -> None:
        """Record ``event`` for row ``key``. An ``intent`` (the final dot is next) returns once an intent naming
        the row is in the store, and names the next rows ahead when the row starts a step; outcomes are written
        with the next intent, or by :meth:`close`.

        :raises JournalError: if a write failed; the message's final dot is then not sent.
        """
        with self._lock:
            if event != INTENT:  # kept in memory: recording an outcome never fails
                self._named.pop(key, None)
                self._committed.discard(key)
                self._pending[key] = self._entry(event, key, message_id, detail)
                return
            self._writer.check()  # any failed write stops the merge before this final dot
            ticket = self._named.get(key)
            if ticket is None:
                ticket = self._name(self._next_step(key), key, message_id)
            else:  # its Message-ID, known now, goes with the next write
                self._pending.setdefault(key, self._entry(INTENT, key, message_id, ""))
            self._writer.wait(ticket)
            self._committed.add(key)
            if ticket == self._latest and self.batch_size > 1 and self._upcoming:
                self._name(self._next_step(None), None, None)  # in the store before the first of them is sent

    def close(self) -> None:
        """Withdraw the intent for rows named but never sent, write every pending event, and end the writer.

        :raises JournalError: if the store cannot be written.
        """
        with self._lock:
            try:
                self._writer.wait()
                for key in [k for k in self._named if k not in self._committed]:
                    del self._named[key]
                    self._pending[key] = (WITHDRAWN, None, "")
                self._flush(None)
                self._writer.wait()
            finally:
                self._writer.close()
        log.info(
            "Mail merge journal: %d writes to %s; the merge waited %.2f s for them.", self.writes, STORE, self.waited
        )

    def __enter__(self) -> StateStoreJournal:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except JournalError as err:  # the error already under way says more; this one goes to the log
            log.warning("%s", err)

    def _name(self, rows: list[str], key: str | None, message_id: str | None) -> int:
        """Name ``rows`` in an intent (``key``'s Message-ID is known); the ticket of the write."""
        for row in rows:
            self._pending[row] = self._entry(INTENT, row, message_id if row == key else None, "")
        ticket = self._flush(rows[0] if rows else key)
        for row in rows:
            self._named[row] = ticket
        self._latest = ticket
        return ticket

    def _next_step(self, key: str | None) -> list[str]:
        batch = [] if key is None else [key]
        if key in self._upcoming:  # rows announced before it are being sent by other sessions: named too
            while (row := next(iter(self._upcoming))) != key:
                del self._upcoming[row]
                if row not in self._named:
                    batch.append(row)
            del self._upcoming[key]
        while len(batch) < self._step and self._upcoming:
            row = next(iter(self._upcoming))
            del self._upcoming[row]
            if row not in self._named:
                batch.append(row)
        return batch

    def _entry(self, event: str, key: str, message_id: str | None, detail: str) -> Entry:
        if message_id is None:
            return (event, None, detail)
        if self._domain is None and message_id.endswith(">") and "@" in message_id:
            self._domain = message_id[message_id.rfind("@") + 1 : -1]
        derived = self._identity and self._domain is not None
        if derived and message_id == make_message_id(str(self._domain), *self._identity, key):
            return (event, "", detail)
        return (event, message_id, detail)

    def _flush(self, at_key: str | None) -> int:
        """Queue the writes of what is pending; the ticket of the last one (or of the last write, if none)."""
        if not self._pending:
            return self._writer.submitted
        where = f"before row {at_key!r}" if at_key is not None else "at the end of the try"
        if self._written is not None:
            merged = {**self._written, **self._pending}
            value = segment_value(merged, self.try_number, self._domain)
            if len(merged) <= SEGMENT_ROWS and value_size(value) <= self._cap:
                self._pending.clear()
                self._written = merged
                return self._writer.submit(SEGMENT_KEY.format(self._segment), value, where)
            self._segment += 1  # this segment is full: the pending events start the next
            self._written = None
        ticket = 0
        for number, chunk in enumerate(self._chunks(self._pending)):
            if number:
                self._segment += 1
            value = segment_value(chunk, self.try_number, self._domain)
            ticket = self._writer.submit(SEGMENT_KEY.format(self._segment), value, where)
            self._written = chunk
        self._pending.clear()
        return ticket

    def _chunks(self, entries: dict[str, Entry]) -> Iterator[dict[str, Entry]]:
        """``entries`` in pieces whose segments stay under the cap (estimated from above: a key as text costs
        at least what it costs in a range). One entry larger than the cap goes alone (the store only warns).
        """
        chunk: dict[str, Entry] = {}
        size = OVERHEAD
        for key, entry in entries.items():
            cost = entry_cost(key, entry)
            if chunk and (size + cost > self._cap or len(chunk) == SEGMENT_ROWS):
                yield chunk
                chunk, size = {}, OVERHEAD
            chunk[key] = entry
            size += cost
        if chunk:
            yield chunk
