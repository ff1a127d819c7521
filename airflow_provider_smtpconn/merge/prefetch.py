"""Preparing the next messages while the current one is on the wire: a thread runs ahead of the sender.

Composing a message is CPU work; sending it is mostly waiting for the server's four replies. A thread that
renders and composes up to ``depth`` rows ahead turns those waits into useful work. It only prepares: sends,
journal lines and outcomes stay with its consumers (the merge's sessions, which may take from it side by side).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

_END = object()
#: What :meth:`Prefetch.take` returns after the last item.
END = _END
#: What :meth:`Prefetch.take` returns when no item is ready and it was not to wait.
EMPTY = object()
_PUT_WAIT = 0.1  # seconds between checks for a stop while the queue is full


class Prefetch:
    """Iterate ``items`` on a thread of its own, ``depth`` items ahead of the consumer.

    Use as a context manager; an exception raised by ``items`` is raised to the consumer where it happened.
    Leaving the block early stops the thread (it finishes the item it is preparing). Several consumers may
    :meth:`take` from it at once.
    """

    def __init__(self, items: Iterable[Any], depth: int = 32) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-merge-prepare", daemon=True)

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=_PUT_WAIT)  # unblock a put
        self._thread.join()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_END, exc))
            return
        self._put((_END, None))

    def _put(self, entry: tuple[Any, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_PUT_WAIT)
                return True
            except queue.Full:
                continue
        return False

    def take(self, *, block: bool = True) -> Any:
        """The next item; :data:`EMPTY` if none is ready and not ``block``; :data:`END` after the last one, to every
        caller from then on. An exception raised by ``items`` is raised to the caller that reaches it.
        """
        try:
            item, error = self._queue.get(block)
        except queue.Empty:
            return EMPTY
        if item is _END:
            self._queue.put((_END, None))  # for the other consumers; the producer has stopped, so there is room
            if error is not None:
                raise error
        return item

    def __iter__(self) -> Iterator[Any]:
        while (item := self.take()) is not _END:
            yield item
