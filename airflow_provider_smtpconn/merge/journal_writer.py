"""Writes to the task state store on a thread of their own, in the order given, so that the sender waits for the
store only when a message's final dot needs a write that has not finished yet.

A failed write is kept: every later write is skipped and every :meth:`StoreWriter.wait` or
:meth:`StoreWriter.check` raises it, so the merge stops before its next final dot.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.merge.journal import JournalError

if TYPE_CHECKING:
    from airflow_provider_smtpconn.merge.state_store_journal import TaskStateStore

#: Airflow's own ``NEVER_EXPIRE`` is this object (``TaskStateStoreAccessor.set`` compares it by identity): the
#: journal lives as long as its DAG run, as the file journal does, whatever ``default_retention_days`` says.
NEVER_EXPIRE = timedelta.max
STORE = "Airflow's task state store"


class StoreWriter:
    """Write ``(key, value)`` pairs to ``store`` in order, on a daemon thread started by the first :meth:`submit`.

    :param store: ``context["task_state_store"]`` (anything with ``set(key, value, retention=...)``).
    """

    def __init__(self, store: TaskStateStore) -> None:
        self.submitted = 0  # writes asked for; each one's number is its ticket
        self.waited = 0.0  # seconds callers of wait() spent waiting
        self._store = store
        self._queue: deque[tuple[int, str, Any, str]] = deque()
        self._changed = threading.Condition()
        self._completed = 0
        self._error: JournalError | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, key: str, value: Any, where: str) -> int:
        """Queue a write of ``value`` under ``key``; its ticket for :meth:`wait`. ``where`` says for the error
        which rows it was for (``"before row 'C-17'"``).
        """
        with self._changed:
            self.submitted += 1
            self._queue.append((self.submitted, key, value, where))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mail-merge-journal", daemon=True)
                self._thread.start()
            self._changed.notify_all()
            return self.submitted

    def wait(self, ticket: int | None = None) -> None:
        """Return once write ``ticket`` (default: every write so far) is in the store.

        :raises JournalError: if that write, or one before it, failed.
        """
        with self._changed:
            target = self.submitted if ticket is None else ticket
            if self._completed < target and self._error is None:
                started = time.monotonic()
                self._changed.wait_for(lambda: self._completed >= target or self._error is not None)
                self.waited += time.monotonic() - started
            if self._error is not None:
                raise self._error

    def check(self) -> None:
        """Raise the first failed write's :class:`JournalError`, if any."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Let the queued writes finish, then end the thread (the writes' errors stay for :meth:`check`)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                ticket, key, value, where = self._queue.popleft()
                skip = self._error is not None
            error = None if skip else self._write(key, value, where)
            with self._changed:
                self._error = self._error or error
                self._completed = ticket
                self._changed.notify_all()

    def _write(self, key: str, value: Any, where: str) -> JournalError | None:
        try:
            self._store.set(key, value, retention=NEVER_EXPIRE)
        except Exception as exc:  # the accessor raises AirflowRuntimeError, or the API client's errors
            return JournalError(
                f"{STORE} could not record the mail merge journal ({key!r} {where}: {brief(exc)}); nothing more is "
                "sent, and a retry resumes from what the store holds."
            )
        return None


def brief(exc: BaseException) -> str:
    """An exception as one short line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
