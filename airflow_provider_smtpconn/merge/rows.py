"""Where a merge's rows come from, read twice in bounded memory: once to check them all, once to send.

A row is ``(position, key, mapping)``: ``position`` counts from 0, ``key`` names the row in errors, results and
its Message-ID (the ``row_key`` column's value, else the position), ``mapping`` is column -> value, what the
templates see as ``row``.

* :func:`xcom_rows`: rows already in memory (an upstream XCom): a list of dicts, or a list of lists/tuples plus
  ``columns`` (as common-sql's operators push them). Iterated twice as they are.
* :class:`SpooledRows`: rows fetched in batches (a SQL cursor); the first pass writes each batch to a temporary
  spool file, the second reads it back, so both passes see exactly the same rows and only one batch is in memory.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_smtpconn.connection.parsers import check_number
from airflow_provider_smtpconn.exceptions import InvalidMessageError, RowKeyError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Row = tuple[int, str, Mapping[str, Any]]

#: Rows per pickle record in the spool: small enough to bound memory, large enough to amortise pickling.
SPOOL_BATCH = 500


def _as_mapping(values: Any, columns: Sequence[str] | None, position: int) -> Mapping[str, Any]:
    if isinstance(values, Mapping):
        return values
    if isinstance(values, (list, tuple)):
        if columns is None:
            raise InvalidMessageError(
                f"rows[{position}] is a list; give columns (the column names, in order) or rows as dicts."
            )
        if len(values) != len(columns):
            raise InvalidMessageError(f"rows[{position}] has {len(values)} values but columns names {len(columns)}.")
        return dict(zip(columns, values, strict=True))
    raise InvalidMessageError(f"rows[{position}] is {type(values).__name__}, not a dict or a list of values.")


def check_columns(columns: Any) -> list[str] | None:
    """``columns`` as a list of names, or ``None``; raises :class:`InvalidMessageError` if it is not a list of text."""
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, (list, tuple)):
        raise InvalidMessageError(f"columns {columns!r} is not a list of column names.")
    names = [c[0] if isinstance(c, (list, tuple)) and c else c for c in columns]  # cursor.description too
    if not all(isinstance(n, str) for n in names):
        raise InvalidMessageError(f"columns {columns!r} is not a list of column names (text).")
    return names


def key_of(mapping: Mapping[str, Any], row_key: str | None, position: int) -> str:
    """The key of one row: its ``row_key`` value as text, else its position; raises :class:`RowKeyError`."""
    if row_key is None:
        return str(position)
    if row_key not in mapping:
        raise RowKeyError(f"has no column {row_key!r} (row_key); its columns are {sorted(mapping)}")
    value = mapping[row_key]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowKeyError(f"has an empty {row_key!r} (row_key)")
    key = str(value)
    try:
        key.encode("utf-8")  # the journal records it as UTF-8
    except UnicodeEncodeError:
        raise RowKeyError(f"has a {row_key!r} (row_key) {key!r} that is not valid Unicode text") from None
    return key


class XComRows:
    """Rows given as a list (an XCom value); see the module docstring."""

    def __init__(self, rows: Any, columns: Any = None) -> None:
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise InvalidMessageError(
                f"rows is {type(rows).__name__}; give a list of dicts, or a list of lists plus columns "
                "(for example an upstream task's .output)."
            )
        self._rows = rows
        self._columns = check_columns(columns)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        for position, values in enumerate(self._rows):
            yield position, _as_mapping(values, self._columns, position)


class SpooledRows:
    """Rows fetched in batches by ``fetch()``, spooled to a temporary file on the first pass.

    :param fetch: Called once; returns ``(columns, batches)``: the column names and an iterator of row batches
        (lists of tuples), such as a cursor's ``description`` and repeated ``fetchmany``.
    """

    def __init__(self, fetch: Callable[[], tuple[Sequence[str], Iterable[Sequence[Any]]]]) -> None:
        self._fetch = fetch
        self._spool: BinaryIO | None = None
        self._columns: list[str] | None = None
        self._complete = False

    def __iter__(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        if self._complete:
            return self._replay()
        return self._first_pass()

    def _first_pass(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        self.close()
        columns, batches = self._fetch()
        self._columns = check_columns(list(columns)) or []
        spool = self._spool = tempfile.TemporaryFile(prefix="smtpconn-merge-")  # noqa: SIM115  # closed in close()
        position = 0
        for batch in batches:
            values = [tuple(row) for row in batch]
            for start in range(0, len(values), SPOOL_BATCH):
                pickle.dump(values[start : start + SPOOL_BATCH], spool, protocol=pickle.HIGHEST_PROTOCOL)
            for row in values:
                yield position, _as_mapping(row, self._columns, position)
                position += 1
        self._complete = True

    def _replay(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        spool, columns = self._spool, self._columns
        if spool is None or columns is None:
            raise RuntimeError("SpooledRows replayed after close()")
        spool.seek(0)
        position = 0
        while True:
            try:
                batch = pickle.load(spool)  # our own file, written above: trusted
            except EOFError:
                return
            for row in batch:
                yield position, dict(zip(columns, row, strict=True))
                position += 1

    def close(self) -> None:
        """Delete the spool file (also done when the object is garbage collected)."""
        spool, self._spool = self._spool, None
        self._complete = False
        if spool is not None:
            spool.close()


def keyed(rows: Iterable[tuple[int, Mapping[str, Any]]], row_key: str | None) -> Iterator[tuple[int, Any, Any]]:
    """``(position, key or RowKeyError, mapping)`` for every row: a row without a key is still yielded."""
    for position, mapping in rows:
        try:
            key: Any = key_of(mapping, row_key, position)
        except RowKeyError as exc:
            key = exc
        yield position, key, mapping


def chunk_rows(rows: Sequence[Any], size: int) -> list[list[Any]]:
    """Split ``rows`` into lists of at most ``size`` rows, for ``MailMergeOperator.partial(...).expand(rows=...)``.

    :raises InvalidMessageError: if ``size`` is not a whole number above 0 or ``rows`` is not a list.
    """
    check_number("chunk size", size, minimum=1, integer=True, parameter=True)
    size = int(size)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise InvalidMessageError(f"rows is {type(rows).__name__}, not a list of rows.")
    return [list(rows[start : start + size]) for start in range(0, len(rows), size)]
