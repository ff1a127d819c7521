"""merge/rows.py: rows from an XCom (dicts, or lists with columns) or a query spooled once and replayed, row keys
and chunks; each bad shape named in one sentence. No Airflow run."""

from __future__ import annotations

import sqlite3

import pytest

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge.rows import SpooledRows, XComRows, chunk_rows, key_of


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


def test_a_row_key_that_is_not_valid_unicode_is_a_bad_row():
    with pytest.raises(InvalidMessageError, match="not valid Unicode text"):
        key_of({"id": "a\udc80"}, "id", 0)
