"""The task state store's journal without an Airflow run: batches, what a crash leaves in doubt, value sizes, the
segment format. The store here keeps JSON like Airflow's (values go through ``json.dumps``/``loads``); the journal
against Airflow's own store, in worker processes, is in ``test_mail_merge_state_store.py``.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
from support.stream_session import StreamSession

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge.journal_segments import key_runs, keys_of, read_segment
from airflow_provider_smtpconn.merge.outcomes import Outcomes
from airflow_provider_smtpconn.merge.pacing import RateLimiter
from airflow_provider_smtpconn.merge.rows import XComRows
from airflow_provider_smtpconn.merge.runner import Merge
from airflow_provider_smtpconn.merge.state_store_journal import SEGMENT_BYTES, StateStoreJournal
from airflow_provider_smtpconn.message.compose import make_message_id
from airflow_provider_smtpconn.smtp.transaction import SendResult

IDENTITY = ("dag", "merge", "run-1", -1)


class Store:
    """A task state store in memory: JSON values by key, with counts of reads and writes."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.values: dict[str, str] = {}
        self.gets = self.sets = 0
        self.largest = 0
        self.fail_after = fail_after

    def get(self, key, default=None):
        self.gets += 1
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key, value, *, retention=None):
        if self.fail_after is not None and self.sets >= self.fail_after:
            raise ConnectionError("the API server is unreachable")
        assert value is not None and retention is not None
        self.sets += 1
        self.values[key] = json.dumps(value)
        self.largest = max(self.largest, len(self.values[key]))


class Killed(BaseException):
    """The worker stops here: nothing after it runs (no outcome, no close)."""


def message_id(key: str, domain: str = "example.org") -> str:
    return make_message_id(domain, *IDENTITY, key)


def run_merge(store, rows, try_number=1, *, kill_at=None, batch_size=10, refuse=(), sent=None, max_failures=None):
    """Send ``rows`` through the runner with a recording sender; ``kill_at``: the key whose reply never comes."""
    sent = [] if sent is None else sent

    def send(message, on_commit):
        on_commit(message.message_id)
        sent.append(message.key)
        if message.key == kill_at:
            raise Killed
        refused = {f"{message.key}@x.org": (550, "no such user")} if message.key in refuse else {}
        return SendResult(message.message_id, [], refused, 10)

    journal = StateStoreJournal(store, try_number, batch_size=batch_size, identity=IDENTITY)
    merge = Merge(
        rows=XComRows(rows), prepare=lambda key, row: SimpleNamespace(key=key, message_id=message_id(key)),
        open_session=lambda: StreamSession(send), journal=journal, limiter=RateLimiter(None),
        row_key="id", max_failures=max_failures,
    )  # fmt: skip
    merge.done = journal.load()
    with Outcomes() as outcomes:
        try:
            merge.send_all(outcomes, merge.check())
        except Killed:
            journal._writer.close()  # the worker is gone: nothing more is written (the thread ends, for the test)
            return sent, None, journal
        except j.JournalError:
            journal._writer.close()
            raise
        journal.close()
        return sent, {row[0]: row[1:] for row in outcomes}, journal


def rows_of(n: int, key=str) -> list[dict]:
    return [{"id": key(i)} for i in range(n)]


def test_a_store_write_per_half_batch_of_rows_not_per_message():
    store = Store()
    sent, _, journal = run_merge(store, rows_of(1000), batch_size=50)

    assert len(sent) == 1000
    assert store.sets == journal.writes == 1000 // 25 + 1  # an intent per 25 rows, the last outcomes at the end
    done = StateStoreJournal(Store(), 2, identity=IDENTITY)
    done._store = store
    earlier = done.load()
    assert sorted(earlier, key=int) == [str(i) for i in range(1000)]
    assert {e.status for e in earlier.values()} == {"accepted"}
    assert earlier["7"].message_id == message_id("7") and earlier["7"].try_number == 1


def test_a_crash_leaves_at_most_one_batch_in_doubt_and_the_retry_sends_the_rest_once():
    store = Store()
    rows = rows_of(25)
    # Steps of 5 rows, each named one step ahead: when row 13 goes out, 10-14 and 15-19 are named, and only the
    # outcomes of rows 0-9 are in the store.
    first, outcomes, _ = run_merge(store, rows, kill_at="13")
    assert outcomes is None and first == [str(i) for i in range(14)]

    second, outcomes, _ = run_merge(store, rows, try_number=2)

    assert second == [str(i) for i in range(20, 25)]  # 10-19 in doubt: never sent again
    assert sorted(first + second, key=int) == [str(i) for i in range(25) if not 14 <= i < 20]
    statuses = {key: (status, try_number) for key, (status, _mid, try_number, _detail) in outcomes.items()}
    assert statuses == {
        **{str(i): ("sent", 1) for i in range(10)},
        **{str(i): ("unknown", 1) for i in range(10, 20)},
        **{str(i): ("sent", 2) for i in range(20, 25)},
    }
    assert outcomes["10"][0] == "unknown" and outcomes["10"][1] == message_id("10")  # written with step 15-19
    assert outcomes["13"][1] == ""  # named in advance: its Message-ID was never written
    assert "no answer was recorded" in outcomes["13"][3]


def test_rows_in_doubt_since_an_earlier_try_do_not_stop_the_retry_at_max_failures():
    store = Store()
    run_merge(store, rows_of(25), kill_at="13")  # rows 10-19 in doubt: 40% of the rows
    second, outcomes, _ = run_merge(store, rows_of(25), try_number=2, max_failures=0.1)
    assert second == [str(i) for i in range(20, 25)]
    assert sum(status == "unknown" for status, *_ in outcomes.values()) == 10


def test_a_try_that_stops_without_a_crash_withdraws_the_rows_it_never_sent():
    store = Store()
    journal = StateStoreJournal(store, 1, batch_size=10, identity=IDENTITY)
    journal.load()
    ahead = iter(journal.ahead((i, str(i), {}) for i in range(12)))
    for _ in range(3):  # rows 0, 1 and 2 go out, then the try stops (a 421, max_failures ...)
        _, key, _ = next(ahead)
        journal.write(j.INTENT, key, message_id(key))
        journal.write(j.ACCEPTED, key, message_id(key))
    journal.write(j.INTENT, "3", message_id("3"))  # its final dot went out, no answer came
    journal.close()

    again = StateStoreJournal(store, 2, identity=IDENTITY)
    earlier = again.load()
    assert {k: e.status for k, e in earlier.items()} == {**dict.fromkeys("012", "accepted"), "3": "unknown"}
    assert store.sets == 3  # rows 0-4 named, 5-9 named ahead, then the outcomes and the withdrawals


def test_a_failed_store_write_stops_the_merge_before_a_row_it_did_not_name():
    store = Store(fail_after=2)  # the third write fails: rows 10-14 named, with the outcomes of 0-4
    sent = []
    with pytest.raises(j.JournalError) as error:
        run_merge(store, rows_of(40), sent=sent)
    message = str(error.value)
    assert message.startswith("Airflow's task state store could not record the mail merge journal ")
    assert "'smtpconn.mail-merge.0' before row '10'" in message
    assert "ConnectionError: the API server is unreachable" in message
    assert message.count(". ") == 0 and message.endswith("a retry resumes from what the store holds.")
    assert set(sent) <= {str(i) for i in range(10)}  # no row the store had not named

    store.fail_after = None
    again, outcomes, _ = run_merge(store, rows_of(40), try_number=2)
    assert again == [str(i) for i in range(10, 40)]  # nothing twice: 0-9 are in doubt
    assert {k for k, (status, *_rest) in outcomes.items() if status == "unknown"} == {str(i) for i in range(10)}


def send_every_row(store, keys, batch_size):
    """Each row as the runner records it: its intent, then accepted."""
    journal = StateStoreJournal(store, 1, batch_size=batch_size, identity=IDENTITY)
    journal.load()
    for _, key, _ in journal.ahead((i, k, {}) for i, k in enumerate(keys)):
        journal.write(j.INTENT, key, message_id(key))
        journal.write(j.ACCEPTED, key, message_id(key))
    journal.close()
    return journal


def test_100000_rows_fit_the_store_in_values_under_its_limit_and_load_in_a_few_reads():
    store = Store()
    send_every_row(store, map(str, range(100_000)), 100)
    assert store.largest < 300  # keyed by position: ranges, derived Message-IDs
    assert len(store.values) <= 55  # at most 2,000 rows a segment

    keyed = Store()
    journal = send_every_row(keyed, (f"customer-{i:06d}" for i in range(100_000)), 100)
    assert keyed.largest <= SEGMENT_BYTES
    assert journal.writes == 2001  # the segments are rewritten as they grow: still a write per half batch
    assert len(keyed.values) <= 1.3 * 100_000 * len('"customer-000000", ') / SEGMENT_BYTES  # a segment per 16 KiB
    again = StateStoreJournal(keyed, 2, identity=IDENTITY)
    keyed.gets = 0
    assert len(again.load()) == 100_000
    assert keyed.gets == len(keyed.values) + 1  # every segment once, and the first missing one


def test_segments_respect_a_lower_max_value_storage_bytes():
    store = Store()
    journal = StateStoreJournal(store, 1, batch_size=200, identity=IDENTITY, max_value_bytes=2048)
    journal.load()
    keys = [f"k-{'x' * 40}-{i}" for i in range(300)]
    for _, key, _ in journal.ahead((i, k, {}) for i, k in enumerate(keys)):
        mid = f"<{key}@elsewhere.example>"  # not the derived one: stored
        journal.write(j.INTENT, key, mid)
        journal.write(j.ACCEPTED, key, mid, "refused b@x.org (550 no)" if key.endswith("7") else "")
    journal.close()

    assert store.largest <= 2048
    earlier = StateStoreJournal(store, 2, identity=IDENTITY).load()
    assert len(earlier) == 300 and earlier[keys[7]].detail == "refused b@x.org (550 no)"
    assert earlier[keys[8]].message_id == f"<{keys[8]}@elsewhere.example>"


def test_several_sessions_write_at_once():
    store = Store()
    journal = StateStoreJournal(store, 1, batch_size=16, identity=IDENTITY)
    journal.load()
    work = iter(journal.ahead((i, str(i), {}) for i in range(400)))
    lock = threading.Lock()

    def session():
        while True:
            with lock:
                row = next(work, None)
            if row is None:
                return
            journal.write(j.INTENT, row[1], message_id(row[1]))
            journal.write(j.ACCEPTED, row[1], message_id(row[1]))

    threads = [threading.Thread(target=session) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    journal.close()

    earlier = StateStoreJournal(store, 2, identity=IDENTITY).load()
    assert len(earlier) == 400 and {e.status for e in earlier.values()} == {"accepted"}
    assert store.sets <= 400 // 8 + 8  # a write per 8 rows, give or take the interleaving


def test_refused_and_partly_refused_rows_read_back_as_the_file_journal_reads_them():
    store = Store()
    rows = rows_of(5)
    run_merge(store, rows, refuse={"2"})
    again = StateStoreJournal(store, 2, identity=IDENTITY).load()
    assert again["2"].status == "accepted" and again["2"].detail == "refused 2@x.org (550 no such user)"


def test_row_keys_as_runs_round_trip():
    keys = ["0", "1", "2", "7", "007", "8", "9", "-1", "1e3", "²", "x", "10", "123456789012345678", "11"]
    runs = key_runs(keys)
    assert runs == [[0, 2], 7, "007", [8, 9], "-1", "1e3", "²", "x", 10, "123456789012345678", 11]
    assert list(keys_of(runs)) == keys
    with pytest.raises(ValueError, match="row key"):
        list(keys_of([[3, 1]]))


def test_a_value_that_is_not_a_journal_is_one_sentence_naming_the_key():
    store = Store()
    store.values["smtpconn.mail-merge.0"] = json.dumps({"job_id": "something else"})
    with pytest.raises(j.JournalError, match=r"holds 'smtpconn.mail-merge.0' for this task instance, but not as a"):
        StateStoreJournal(store, 1).load()
    with pytest.raises(ValueError, match="event 'sent'"):
        list(read_segment({"format": 1, "try": 1, "events": {"sent": ["a"]}}))


@pytest.mark.parametrize("size", [0, -1, 10_001, 2.5, True, "50"])
def test_batch_size_is_checked(size):
    with pytest.raises(InvalidMessageError, match=f"journal_batch_size {size!r} is not a whole number from 1 to"):
        StateStoreJournal(Store(), 1, batch_size=size)
