"""The merge's journal in Airflow's task state store (AIP-103, Airflow 3.3 and later): every try of a task
instance reads it, on whichever worker or pod it runs, so a retry on another machine never resends a row.

A store write is a round trip to the API server and a database commit, so the journal writes once per batch of
rows, never once per message:

* before the final ``.`` of the first row of a batch, one write records the ``intent`` for that row and the
  next ``batch_size - 1`` rows the merge will send (their keys come from :meth:`StateStoreJournal.ahead`),
  together with the outcomes of every row answered since the last write;
* outcomes wait in memory for that write, or for the last one, when the try ends.

After a crash (the worker killed, the pod evicted) the rows of the last batch with no recorded outcome are in
doubt: some may have been delivered, so a retry reports them ``unknown`` and never resends them: at most one
batch, plus the messages still awaiting their reply when that batch began (with several sessions). A try that
ends in any other way records every outcome and withdraws the intent for the rows it never sent.

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
from datetime import timedelta
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_smtpconn.compose import make_message_id
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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

SEGMENT_KEY = "smtpconn.mail-merge.{}"
SEGMENT_BYTES = 16 * 1024
#: Rows per segment at most, so that rewriting one as it grows costs a bounded time, however well it packs.
SEGMENT_ROWS = 2_000
#: Rows named by one intent: at most this many are in doubt after a crash; one store write per batch.
DEFAULT_BATCH_SIZE = 50
MAX_BATCH_SIZE = 10_000
#: Airflow's own ``NEVER_EXPIRE`` is this object (``TaskStateStoreAccessor.set`` compares it by identity): the
#: journal lives as long as its DAG run, as the file journal does, whatever ``default_retention_days`` says.
NEVER_EXPIRE = timedelta.max
STORE = "Airflow's task state store"


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
    :param batch_size: Rows named by one intent (see the module docstring).
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
        self.where = f"{STORE}, written once per {self.batch_size} rows"
        self.writes = 0  # store writes by this try
        self._store, self._identity = store, tuple(identity)
        self._cap = SEGMENT_BYTES if max_value_bytes <= 0 else min(SEGMENT_BYTES, max_value_bytes)
        self._lock = threading.Lock()
        self._segment = 0  # this try's current segment
        self._written: dict[str, Entry] | None = None  # what that segment holds, once written
        self._pending: dict[str, Entry] = {}
        self._upcoming: dict[str, None] = {}  # keys announced by ahead(), in order, not yet named by an intent
        self._named: dict[str, None] = {}  # named by a written (or failed) intent, no outcome yet
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
                    f"{STORE} could not be read for the mail merge journal ({key!r}: {_brief(exc)}); nothing was "
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

    def write(self, event: str, key: str, message_id: str, detail: str = "") -> None:
        """Record ``event`` for row ``key``. An ``intent`` (the final dot is next) writes to the store when no
        earlier intent named the row; outcomes are written with the next intent, or by :meth:`close`.

        :raises JournalError: if an intent cannot be written; the message's final dot is then not sent.
        """
        with self._lock:
            if event != INTENT:
                self._named.pop(key, None)
                self._committed.discard(key)
                self._pending[key] = self._entry(event, key, message_id, detail)
            elif key in self._named:
                self._committed.add(key)
            else:
                for row in self._next_batch(key):
                    self._named[row] = None
                    self._pending[row] = self._entry(INTENT, row, message_id if row == key else None, "")
                self._flush(key)
                self._committed.add(key)

    def close(self) -> None:
        """Withdraw the intent for rows named but never sent, and write every pending event.

        :raises JournalError: if the store cannot be written.
        """
        with self._lock:
            for key in [k for k in self._named if k not in self._committed]:
                del self._named[key]
                self._pending[key] = (WITHDRAWN, None, "")
            self._flush(None)

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

    def _next_batch(self, key: str) -> list[str]:
        batch = [key]
        if key in self._upcoming:  # rows announced before it are being sent by other sessions: named too
            while (row := next(iter(self._upcoming))) != key:
                del self._upcoming[row]
                if row not in self._named:
                    batch.append(row)
            del self._upcoming[key]
        while len(batch) < self.batch_size and self._upcoming:
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

    def _flush(self, at_key: str | None) -> None:
        if not self._pending:
            return
        if self._written is not None:
            merged = {**self._written, **self._pending}
            value = segment_value(merged, self.try_number, self._domain)
            if len(merged) <= SEGMENT_ROWS and value_size(value) <= self._cap:
                self._set(value, at_key)
                self._written = merged
                self._pending.clear()
                return
            self._segment += 1  # this segment is full: the pending events start the next
            self._written = None
        for number, chunk in enumerate(self._chunks(self._pending)):
            if number:
                self._segment += 1
            self._set(segment_value(chunk, self.try_number, self._domain), at_key)
            self._written = chunk
        self._pending.clear()

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

    def _set(self, value: dict[str, Any], at_key: str | None) -> None:
        key = SEGMENT_KEY.format(self._segment)
        try:
            self._store.set(key, value, retention=NEVER_EXPIRE)
        except Exception as exc:  # the accessor raises AirflowRuntimeError, or the API client's errors
            where = f" before row {at_key!r}" if at_key is not None else " at the end of the try"
            raise JournalError(
                f"{STORE} could not record the mail merge journal ({key!r}{where}: {_brief(exc)}); nothing more "
                "is sent, and a retry resumes from what the store holds."
            ) from None
        self.writes += 1


def _brief(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
