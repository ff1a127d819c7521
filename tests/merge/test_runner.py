"""merge/runner.py with a recording sender: every row is checked before the first send, outcomes are recorded, and
the next try resends only what was not accepted. No Airflow run, no server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from support.stream_session import StreamSession

from airflow_provider_smtpconn.exceptions import InvalidMessageError, RecipientsRefusedError
from airflow_provider_smtpconn.merge.journal import Journal
from airflow_provider_smtpconn.merge.outcomes import Outcomes
from airflow_provider_smtpconn.merge.pacing import RateLimiter
from airflow_provider_smtpconn.merge.rows import XComRows
from airflow_provider_smtpconn.merge.runner import BadRowsError, Merge
from airflow_provider_smtpconn.smtp.transaction import SendResult


def _message(key: str, row: dict) -> SimpleNamespace:
    if "@" not in row["to"]:
        raise InvalidMessageError(f"to {row['to']!r} is not an address.")
    return SimpleNamespace(to=row["to"], message_id=f"<{key}@x>")


def _merge(tmp_path, rows, **kwargs):
    sent, closed = [], []

    def send(message, on_commit):
        if message.to == "refused@x.org":
            raise RecipientsRefusedError("refused", {"refused@x.org": (550, "no")}, [])
        on_commit(message.message_id)
        sent.append(message.to)
        return SendResult(message.message_id, [message.to], {}, 10)

    journal = Journal(tmp_path / "j", 1)
    merge = Merge(
        rows=XComRows(rows), prepare=_message, open_session=lambda: StreamSession(send, closed), journal=journal,
        limiter=RateLimiter(None), messages_per_session=2, row_key="id", **kwargs,
    )  # fmt: skip
    merge.done = journal.load()
    return merge, sent, closed


@pytest.mark.parametrize("sessions", [0, 11, 2.0, "2", True])
def test_sessions_is_a_whole_number_from_one_to_ten(tmp_path, sessions):
    with pytest.raises(InvalidMessageError, match=rf"^sessions {sessions!r} is not a whole number from 1 to 10: "):
        _merge(tmp_path, [], sessions=sessions)


def test_runner_checks_every_row_before_sending(tmp_path):
    rows = [{"id": i, "to": f"r{i}@x.org"} for i in range(30)] + [{"id": 99, "to": "bad"}, {"id": 3, "to": "d@x.org"}]
    merge, sent, _ = _merge(tmp_path, rows)
    with pytest.raises(BadRowsError) as error:
        merge.check()
    assert sent == []
    assert str(error.value).startswith("2 of 32 rows cannot be sent, so nothing was sent (on_bad_row='fail'): 99: to")
    assert "3: repeats the row_key '3' of an earlier row" in str(error.value)


def test_runner_sends_records_and_resumes(tmp_path):
    rows = [{"id": i, "to": "refused@x.org" if i == 2 else f"r{i}@x.org"} for i in range(5)]
    merge, sent, closed = _merge(tmp_path, rows)
    with Outcomes() as outcomes:
        merge.send_all(outcomes, merge.check())
        assert outcomes.counts["sent"] == 4 and outcomes.counts["refused"] == 1
    assert sent == ["r0@x.org", "r1@x.org", "r3@x.org", "r4@x.org"]
    assert len(closed) == 2  # after every 2 messages (the refused one counts: it used the session)
    merge.journal.close()
    again, sent_again, _ = _merge(tmp_path, rows)  # the next try: only the refused row is tried again
    with Outcomes() as outcomes:
        again.send_all(outcomes, again.check())
        assert [r[:2] for r in outcomes] == [
            ["0", "sent"],
            ["1", "sent"],
            ["2", "refused"],
            ["3", "sent"],
            ["4", "sent"],
        ]
    assert sent_again == []
    again.journal.close()
