"""The mail merge's parts that need no Airflow run: rows, per-row templates, journal, pacing, outcomes, runner."""

from __future__ import annotations

import io
import json
import sqlite3
from types import SimpleNamespace

import jinja2
import pytest

from airflow_provider_smtpconn.exceptions import InvalidMessageError, RecipientsRefusedError
from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge.journal import Journal, journal_path
from airflow_provider_smtpconn.merge.outcomes import Outcomes, failure_limit
from airflow_provider_smtpconn.merge.pacing import RateLimiter, SessionBudget
from airflow_provider_smtpconn.merge.rows import SpooledRows, XComRows, chunk_rows, key_of
from airflow_provider_smtpconn.merge.runner import BadRowsError, Merge
from airflow_provider_smtpconn.merge.templates import compile_field, variables_for
from airflow_provider_smtpconn.transport import SendOutcome, SendResult

# -- rows -----------------------------------------------------------------------------------------------------


def test_xcom_rows_as_dicts_or_lists_with_columns():
    assert list(XComRows([{"a": 1}, {"a": 2}])) == [(0, {"a": 1}), (1, {"a": 2})]
    assert list(XComRows([[1, "x"]], columns=["n", "s"])) == [(0, {"n": 1, "s": "x"})]
    assert list(XComRows([(1,)], columns=[("n", "int")])) == [(0, {"n": 1})]  # a cursor description works too
    with pytest.raises(InvalidMessageError, match=r"rows\[0\] is a list; give columns"):
        list(XComRows([[1]]))
    with pytest.raises(InvalidMessageError, match=r"rows\[1\] has 1 values but columns names 2"):
        list(XComRows([[1, 2], [3]], columns=["a", "b"]))
    with pytest.raises(InvalidMessageError, match="rows is str"):
        XComRows("not rows")


def test_spooled_rows_query_once_and_replay_the_same_rows(tmp_path):
    db = sqlite3.connect(tmp_path / "rows.db")
    db.execute("CREATE TABLE t (id INTEGER, email TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"r{i}@example.org") for i in range(7)])
    queries = []

    def fetch():
        queries.append(1)
        cursor = db.execute("SELECT id, email FROM t ORDER BY id")
        columns = [d[0] for d in cursor.description]
        return columns, iter(lambda: cursor.fetchmany(3), [])

    rows = SpooledRows(fetch)
    first, second = list(rows), list(rows)
    assert first == second == [(i, {"id": i, "email": f"r{i}@example.org"}) for i in range(7)]
    assert len(queries) == 1
    rows.close()


def test_row_keys_and_chunks():
    assert key_of({"id": 7}, "id", 3) == "7"
    assert key_of({"id": 7}, None, 3) == "3"
    with pytest.raises(InvalidMessageError, match="has no column 'ID'"):
        key_of({"id": 7}, "ID", 0)
    with pytest.raises(InvalidMessageError, match="has an empty 'id'"):
        key_of({"id": " "}, "id", 0)
    assert chunk_rows(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(InvalidMessageError, match="chunk size 0"):
        chunk_rows([1], 0)


# -- templates ------------------------------------------------------------------------------------------------


def test_fields_compile_once_and_render_per_row(tmp_path):
    (tmp_path / "body.html").write_text("<p>{{ row.name }} in {{ dag_id }}</p>")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), undefined=jinja2.StrictUndefined)
    attachments = compile_field("attachments", [{"filename": "{{ row.id }}.csv", "content": b"raw"}], env)
    html = compile_field("html", "body.html", env, (".html",))
    plain = compile_field("subject", "no markup", env)
    variables = variables_for(env, {"dag_id": "d"})
    assert not plain.has_templates
    for row in ({"id": 1, "name": "Ann"}, {"id": 2, "name": "Bob"}):
        variables["row"] = row
        assert attachments.render(variables) == [{"filename": f"{row['id']}.csv", "content": b"raw"}]
        assert html.render(variables) == f"<p>{row['name']} in d</p>"
    variables["row"] = {}
    with pytest.raises(jinja2.UndefinedError):
        html.render(variables)
    with pytest.raises(InvalidMessageError, match="subject is not a valid Jinja template"):
        compile_field("subject", "{{ row.x ", env)
    with pytest.raises(InvalidMessageError, match="html names the template file 'missing.html'"):
        compile_field("html", "missing.html", env, (".html",))
    assert compile_field("x", "{{ range(2) | list }}", env).render(variables_for(env, {})) == "[0, 1]"


# -- journal --------------------------------------------------------------------------------------------------


def test_the_journal_says_what_earlier_tries_did(tmp_path):
    path = journal_path(tmp_path, "dag", "run/1", "task", 3)
    assert path.parent == tmp_path / "dag" / "run_1" and path.name.startswith("task.3.")
    with Journal(path, 1) as first:
        assert first.load() == {}
        first.write(j.INTENT, "a", "<a@x>")
        first.write(j.ACCEPTED, "a", "<a@x>")
        first.write(j.REFUSED, "b", "<b@x>", "refused b")
        first.write(j.INTENT, "c", "<c@x>")
        first.write(j.FAILED, "c", "<c@x>", "554 no")
        first.write(j.INTENT, "d", "<d@x>")  # the worker died here
    with path.open("ab") as file:
        file.write(b'["accepted", "e", "<e')  # a line torn by a machine crash
    second = Journal(path, 2)
    done = second.load()
    second.close()
    assert done == {
        "a": j.Earlier(j.ACCEPTED, 1, "<a@x>", ""),
        "d": j.Earlier(j.UNKNOWN, 1, "<d@x>", "sent, but no answer was recorded (the worker stopped)"),
    }
    lines = [json.loads(line) for line in path.read_text().splitlines()[:2]]
    assert lines == [["intent", "a", "<a@x>", 1, ""], ["accepted", "a", "<a@x>", 1, ""]]


def test_a_line_after_a_torn_one_keeps_its_own_line(tmp_path):
    """A write that failed half-way (a full disk) leaves a torn line; the next try's first line must not join it,
    or that row's intent would be lost and a retry after a kill could send it twice."""
    path = tmp_path / "j"
    with Journal(path, 1) as first:
        first.load()
        first.write(j.INTENT, "a", "<a@x>")
    with path.open("ab") as file:
        file.write(b'["accepted", "a", "<a')  # torn
    with Journal(path, 2) as second:
        assert second.load() == {
            "a": j.Earlier(j.UNKNOWN, 1, "<a@x>", "sent, but no answer was recorded (the worker stopped)")
        }
        second.write(j.INTENT, "b", "<b@x>")  # then the worker is killed
    with Journal(path, 3) as third:
        assert set(third.load()) == {"a", "b"}  # b is unknown, never resent


def test_an_unusable_journal_dir_is_one_sentence_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    shows = r"^journal_dir cannot hold the mail merge journal .* \(Not a directory\); give a writable folder"
    with pytest.raises(j.JournalError, match=shows):
        Journal(blocker / "sub" / "j", 1).load()


# -- pacing ---------------------------------------------------------------------------------------------------


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
    with pytest.raises(InvalidMessageError, match="max_per_minute 0 is not a number above 0"):
        RateLimiter(0)


@pytest.mark.parametrize("sessions", [0, 11, 2.0, "2", True])
def test_sessions_is_a_whole_number_from_one_to_ten(tmp_path, sessions):
    with pytest.raises(InvalidMessageError, match=rf"^sessions {sessions!r} is not a whole number from 1 to 10: "):
        _merge(tmp_path, [], sessions=sessions)


def test_session_budget():
    budget = SessionBudget(2)
    assert [budget.spend() for _ in range(5)] == [False, True, False, True, False]
    assert not any(SessionBudget(None).spend() for _ in range(100))
    with pytest.raises(InvalidMessageError, match="messages_per_session 1.5 is not a whole number"):
        SessionBudget(1.5)  # type: ignore[arg-type]


# -- outcomes -------------------------------------------------------------------------------------------------


def test_failure_limit_counts_and_fractions():
    assert failure_limit(None, 10) is None
    assert failure_limit(3, 10) == 3
    assert failure_limit(0.25, 10) == 2
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InvalidMessageError, match="max_failures"):
            failure_limit(bad, 10)


def test_outcomes_summary_lists_problem_rows_when_there_are_too_many():
    with Outcomes() as outcomes:
        for i in range(5):
            outcomes.add(str(i), "sent" if i != 3 else "refused", f"<{i}@x>", 1)
        full, short = outcomes.summary(10), outcomes.summary(2)
        file = io.StringIO()
        outcomes.write_csv(file)
    assert (full["sent"], full["refused"], full["total"], full["outcomes_complete"]) == (4, 1, 5, True)
    assert len(full["outcomes"]) == 5
    assert short["outcomes"] == [["3", "refused", "<3@x>", 1, ""]] and not short["outcomes_complete"]
    assert file.getvalue().splitlines()[:2] == ["row_key,status,message_id,try_number,detail", "0,sent,<0@x>,1,"]


# -- the runner with a recording sender -----------------------------------------------------------------------


def _message(key: str, row: dict) -> SimpleNamespace:
    if "@" not in row["to"]:
        raise InvalidMessageError(f"to {row['to']!r} is not an address.")
    return SimpleNamespace(to=row["to"], message_id=f"<{key}@x>")


class _Session:
    """Stands in for ``SmtpSession``: its stream decides each message as it is submitted."""

    def __init__(self, sent, closed):
        self.sent, self.closed = sent, closed

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def close(self):
        self.closed.append(1)

    def stream(self, *, on_outcome, on_commit):
        session = self

        class Stream:
            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                pass

            def submit(self, message, tag):
                if message.to == "refused@x.org":
                    error = RecipientsRefusedError("refused", {"refused@x.org": (550, "no")}, [])
                    on_outcome(tag, SendOutcome(message.message_id, error=error))
                    return
                on_commit(tag)
                session.sent.append(message.to)
                on_outcome(tag, SendOutcome(message.message_id, SendResult(message.message_id, [message.to], {}, 10)))

            def flush(self):
                pass

        return Stream()


def _merge(tmp_path, rows, **kwargs):
    sent, closed = [], []
    journal = Journal(tmp_path / "j", 1)
    merge = Merge(
        rows=XComRows(rows), prepare=_message, open_session=lambda: _Session(sent, closed), journal=journal,
        limiter=RateLimiter(None), messages_per_session=2, row_key="id", **kwargs,
    )  # fmt: skip
    merge.done = journal.load()
    return merge, sent, closed


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


# -- prefetch -------------------------------------------------------------------------------------------------


def test_prefetch_keeps_order_raises_where_it_happened_and_stops_early():
    import threading

    from airflow_provider_smtpconn.merge.prefetch import Prefetch

    def items():
        yield from range(5)
        raise ValueError("row 5 broke")

    got = []
    with pytest.raises(ValueError, match="row 5 broke"), Prefetch(items(), depth=2) as ready:
        got.extend(ready)
    assert got == [0, 1, 2, 3, 4]

    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    with Prefetch(endless(), depth=3) as ready:
        for item in ready:
            if item == 1:
                break
    assert len(produced) < 10  # stopped a few rows ahead, not at the end
    assert not [t for t in threading.enumerate() if t.name == "mail-merge-prepare"]
