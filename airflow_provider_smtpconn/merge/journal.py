"""The durable record of a merge, its events and how they read back; and the file journal, one append-only file per
task instance, one line per event. (The task state store's journal, :mod:`.state_store_journal`, keeps the same
events in batches and reads them back through :func:`apply_event`.)

Before the final ``.`` of a message's DATA is sent, an ``intent`` line is written; after the server's answer,
an outcome line (``accepted``, ``refused``, ``failed`` or ``unknown``). Each line is one ``write()`` to a file
opened with ``O_APPEND``: once ``write()`` returns, the line is in the operating system's page cache and
survives the process being killed (``SIGKILL``, an out-of-memory kill, a lost Celery worker process); only a
crash of the machine itself can lose it, unless ``fsync`` is asked for. A line torn by such a crash is ignored.

On a retry of the task instance the file is read back: rows with ``accepted`` are not sent again; rows with
``intent`` and no outcome (or ``unknown``) may have been delivered and are reported as unknown, not resent;
rows ``refused`` or ``failed`` were not delivered and are tried again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_smtpconn.exceptions import JournalError
from airflow_provider_smtpconn.paths import safe_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

INTENT = "intent"
ACCEPTED = "accepted"
REFUSED = "refused"
FAILED = "failed"
UNKNOWN = "unknown"
#: A row named in advance by a group's intent whose final dot never went out (the try ended before it).
WITHDRAWN = "withdrawn"
EVENTS = (INTENT, ACCEPTED, REFUSED, FAILED, UNKNOWN, WITHDRAWN)
#: Logged once per try when the file journal is the default (no task state store): the path, then what to set.
ON_THIS_WORKER_ONLY = (
    "The mail merge journal is %s on this worker's own disk, which a retry on another worker cannot see (it would "
    "send accepted rows again): with a distributed executor set journal_dir (or %s) to storage every worker "
    "mounts, or upgrade to Airflow 3.3 for the task state store."
)


@dataclass(frozen=True)
class Earlier:
    """What an earlier try recorded for one row: ``accepted`` or ``unknown`` (intent without an outcome)."""

    status: str
    try_number: int
    message_id: str
    detail: str = ""


class MergeJournal(Protocol):
    """What the merge needs of a journal (:class:`Journal`, or the task state store's journal)."""

    try_number: int
    where: str  # for the task log: where the journal is

    def load(self) -> dict[str, Earlier]:
        """What earlier tries recorded as done, by row key; raises :class:`JournalError`."""

    def ahead(self, rows: Iterable[tuple[int, Any, Any]], skip: Callable[[str], bool] | None = None) -> Iterable[Any]:
        """``rows`` (``(position, key, mapping)``) as they are, after the journal has seen their keys."""

    def write(self, event: str, key: str, message_id: str, detail: str = "") -> None:
        """Record ``event`` for row ``key``; raises :class:`JournalError`."""

    def close(self) -> None:
        """Record what is still pending; raises :class:`JournalError`."""


def journal_path(directory: str | Path, dag_id: str, run_id: str, task_id: str, map_index: int) -> Path:
    """The journal file of one task instance: readable names, plus a hash of the exact identity so that two
    identities that read the same after sanitising never share a file.
    """
    identity = "\x1f".join((dag_id, run_id, task_id, str(map_index)))
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
    name = safe_name(task_id) + (f".{map_index}" if map_index >= 0 else "") + f".{digest}.journal"
    return Path(directory, safe_name(dag_id), safe_name(run_id), name)


class Journal:
    """One task instance's journal file. Use :meth:`load` first (it opens the file), then :meth:`write`.

    :param path: From :func:`journal_path`; its folder is created.
    :param try_number: This try, written on every line.
    :param fsync: Also ``fsync`` after each line (survives a machine crash; costs a disk flush per line).
    """

    def __init__(self, path: str | Path, try_number: int, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.where = f"the file {self.path}"
        self.try_number = try_number
        self._fsync = fsync
        self._fd: int | None = None

    def load(self) -> dict[str, Earlier]:
        """What earlier tries recorded as done, by row key: ``accepted``, or ``unknown`` (an intent line with no
        outcome, or an ``unknown`` line). Rows refused or failed earlier are not in it: they are tried again.

        :raises JournalError: if the journal's folder or file cannot be created, read or opened for appending.
        """
        done: dict[str, Earlier] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = self.path.read_bytes() if self.path.exists() else b""
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if data and not data.endswith(b"\n"):
                self._append(b"\n")  # a line torn by a failed write stays apart from the next one
        except OSError as exc:
            raise JournalError(
                f"journal_dir cannot hold the mail merge journal {str(self.path)!r} "
                f"({exc.strerror or exc}); give a writable folder (shared storage with a distributed executor)."
            ) from None
        for raw in data.splitlines():
            _apply(done, raw)
        return done

    def ahead(self, rows: Iterable[tuple[int, Any, Any]], skip: Callable[[str], bool] | None = None) -> Iterable[Any]:
        """``rows`` unchanged: a line per message needs no look ahead."""
        return rows

    def write(self, event: str, key: str, message_id: str, detail: str = "") -> None:
        """Append one line: ``event`` for row ``key``; ``detail`` says why (for refusals and failures).

        :raises JournalError: if the line cannot be written (the disk is full, say). Raised from the ``intent``
            write, it stops the send before the final dot, so that message is not delivered.
        """
        if self._fd is None:
            raise RuntimeError("Journal.load() opens the journal before the first write.")
        line = json.dumps([event, key, message_id, self.try_number, detail], ensure_ascii=False) + "\n"
        try:
            self._append(line.encode("utf-8"))
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(
                f"The mail merge journal {str(self.path)!r} in journal_dir could not be written "
                f"({exc.strerror or exc}) at row {key!r}; nothing more is sent, and a retry resumes from the journal."
            ) from None

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:  # a short write (rare: a full disk) is continued, or raises
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Close the file (the lines are already written)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _apply(done: dict[str, Earlier], raw: bytes) -> None:
    try:
        event, key, message_id, try_number, detail = json.loads(raw)
    except (ValueError, TypeError):
        return  # a line torn by a machine crash: its row's state is what the lines before it said
    apply_event(done, event, key, message_id, try_number, detail)


def apply_event(done: dict[str, Earlier], event: str, key: str, message_id: str, try_number: int, detail: str) -> None:
    """Fold one recorded event into ``done`` (row key -> :class:`Earlier`), events taken in the order written.

    ``accepted`` is final; ``intent`` without a later outcome means the message may have been delivered
    (``unknown``); ``refused``, ``failed`` and ``withdrawn`` mean nothing was delivered, so the row is tried again.
    """
    previous = done.get(key)
    if previous is not None and previous.status == ACCEPTED:
        return  # accepted is final
    if event == INTENT:
        done[key] = Earlier(UNKNOWN, try_number, message_id, "sent, but no answer was recorded (the worker stopped)")
    elif event in (ACCEPTED, UNKNOWN):
        done[key] = Earlier(event, try_number, message_id, detail)
    elif event in (REFUSED, FAILED, WITHDRAWN):
        done.pop(key, None)  # nothing was delivered: tried again


def describe(value: Any) -> str:
    """A short one-line text for a detail column."""
    return " ".join(str(value).split())[:300]
