"""merge/journal.py's file journal: what earlier tries did survives a killed worker and a torn line, so a retry
never resends a row whose message may have gone out. No Airflow run."""

from __future__ import annotations

import json

import pytest

from airflow_provider_smtpconn.merge import journal as j
from airflow_provider_smtpconn.merge.journal import Journal, journal_path


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
