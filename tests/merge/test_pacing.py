"""merge/pacing.py: the rate limiter spaces message starts (on a fake clock, never waited for) and the session
budget says when to open a new session. No Airflow run."""

from __future__ import annotations

import pytest

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge.pacing import RateLimiter, SessionBudget


def test_rate_limiter_spaces_message_starts():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(30, clock=lambda: now[0], sleep=sleep)
    limiter.wait()
    now[0] += 0.5
    limiter.wait()
    now[0] += 5
    limiter.wait()
    assert slept == [1.5]  # 2 s apart; the third came late enough
    assert RateLimiter(None).wait() == 0.0
    with pytest.raises(InvalidMessageError, match="max_per_minute 0 must be above 0"):
        RateLimiter(0)


def test_session_budget():
    budget = SessionBudget(2)
    assert [budget.spend() for _ in range(5)] == [False, True, False, True, False]
    assert not any(SessionBudget(None).spend() for _ in range(100))
    with pytest.raises(InvalidMessageError, match="messages_per_session 1.5 is not a whole number"):
        SessionBudget(1.5)  # type: ignore[arg-type]
