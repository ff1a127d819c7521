"""How fast a merge sends: at most ``max_per_minute`` messages, evenly spaced, over ``sessions`` connections at
once, and a new session every ``messages_per_session`` messages (many relays cap messages per connection).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.connection.parsers import check_number
from airflow_provider_smtpconn.exceptions import InvalidMessageError

if TYPE_CHECKING:
    from collections.abc import Callable


#: The most SMTP sessions one merge opens at once.
MAX_SESSIONS = 10


def session_count(sessions: Any) -> int:
    """``sessions`` checked: a whole number from 1 to :data:`MAX_SESSIONS`; raises :class:`InvalidMessageError`."""
    if isinstance(sessions, bool) or not isinstance(sessions, int) or not 1 <= sessions <= MAX_SESSIONS:
        raise InvalidMessageError(
            f"sessions {sessions!r} is not a whole number from 1 to {MAX_SESSIONS}: relays limit the connections one "
            "client may hold open at once, so to send faster still, map the operator over chunks of the rows."
        )
    return sessions


def positive_number(name: str, value: Any, *, integer: bool = False) -> float | None:
    """``value`` checked as a number above 0 (``None`` stays ``None``); raises :class:`InvalidMessageError`."""
    if value is None:
        return None
    return float(check_number(name, value, minimum=0, inclusive=False, integer=integer, parameter=True))


class RateLimiter:
    """A token bucket of capacity one: messages start at least ``60 / max_per_minute`` seconds apart, so no
    60-second window holds more than ``max_per_minute`` of them. ``None`` means no limit. Thread-safe: the
    sessions of one merge share it, so the limit is the whole merge's.

    :param clock: Seconds, monotonic (``time.monotonic``); :param sleep: Waits that many seconds.
    """

    def __init__(
        self,
        max_per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        per_minute = positive_number("max_per_minute", max_per_minute)
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next start: the seconds until it (0.0 when that is now). The caller waits them."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            start = now if self._next is None else max(now, self._next)
            self._next = start + self.interval
        return start - now

    def wait(self) -> float:
        """Wait until the next message may start; returns the seconds waited."""
        waited = self.reserve()
        if waited > 0:
            self._sleep(waited)
        return waited


class SessionBudget:
    """Counts messages on the current SMTP session and says when to start a new one."""

    def __init__(self, messages_per_session: int | None) -> None:
        limit = positive_number("messages_per_session", messages_per_session, integer=True)
        self.limit = int(limit) if limit else None
        self.sent = 0

    def spend(self) -> bool:
        """Count one message; ``True`` when the session has reached its limit and should be closed now."""
        self.sent += 1
        if self.limit is not None and self.sent >= self.limit:
            self.sent = 0
            return True
        return False

    def reset(self) -> None:
        """The session was closed for another reason (a drop): start counting again."""
        self.sent = 0
