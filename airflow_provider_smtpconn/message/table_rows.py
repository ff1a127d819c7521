"""The shapes data tasks hand over, read as column names and rows for :func:`~.tables.email_table`.

Accepted:

* a list of dicts: the keys of the first row are the columns;
* a list of lists or tuples, with ``columns`` for the header (without, the table has no header row);
  namedtuples and SQLAlchemy rows name their columns themselves (``_fields``);
* common-sql's XCom: the rows alone (a list of lists, as ``SQLExecuteQueryOperator`` pushes by default; give
  ``columns``), or rows with their cursor description, ``(description, rows)`` or ``(descriptions, results)`` per
  statement (what an ``output_processor`` such as ``lambda results, descriptions: (descriptions, results)``
  returns; the last statement is shown). A description is PEP 249's: seven items per column, the name first;
* ``{"columns": [...], "data": [...]}``, pandas' ``DataFrame.to_dict(orient="split")``;
* a pandas DataFrame (pandas is never imported here; the object is asked for its columns and rows). An index
  other than the default 0, 1, 2 ... becomes the first columns.

Every row is checked (a ragged row is an error, wherever it is); only the rows shown are copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import TableError

if TYPE_CHECKING:
    from collections.abc import Callable

#: PEP 249: ``cursor.description`` has seven items per column (name, type_code, display_size, ...).
_DESCRIPTION_ITEMS = 7


@dataclass(frozen=True)
class TableRows:
    """Rows read for a table.

    :param columns: The column names, or ``None`` when the rows carry none (no header row).
    :param shown: The first rows, each a list of values in column order.
    :param total: How many rows there are in all.
    :param csv_content: Gives what a CSV attachment of every row holds: rows for ``attachments`` to write
        (with ``columns`` as the header), or the CSV bytes themselves (a DataFrame writes its own).
    """

    columns: list[str] | None
    shown: list[list[Any]]
    total: int
    csv_content: Callable[[], Any]


def read_rows(rows: Any, columns: Any, max_rows: int) -> TableRows:
    """Read ``rows`` (any accepted shape) and keep the first ``max_rows`` for showing.

    :raises TableError: naming ``rows`` or ``columns``, for a shape that is not accepted or a ragged row.
    """
    given = _column_names(columns)
    if _is_dataframe(rows):
        return _from_dataframe(rows, given, max_rows)
    if isinstance(rows, Mapping) and "columns" in rows and "data" in rows:
        return read_rows(rows["data"], given if given is not None else rows["columns"], max_rows)
    described = _with_description(rows)
    if described is not None:
        names, rows = described
        given = given if given is not None else names
    if rows is None or isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise TableError(
            f"rows of type {type(rows).__name__} cannot become a table: give a list of dicts, a list of lists with "
            "columns, common-sql's output or a pandas DataFrame."
        )
    if rows and isinstance(rows[0], Mapping):
        return _from_dicts(rows, given, max_rows)
    return _from_sequences(rows, given, max_rows)


def _column_names(columns: Any) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, (str, bytes, Mapping)) or not isinstance(columns, Sequence):
        raise TableError(f"columns {columns!r} is not a list of column names.")
    return [str(name) for name in columns]


def _from_dicts(rows: Sequence[Any], given: list[str] | None, max_rows: int) -> TableRows:
    columns = given if given is not None else [str(key) for key in rows[0]]
    known = set(columns) if given is None else None  # given columns pick what is shown; other keys are left out
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise TableError(f"rows: row {number} is {_short(row)}, not a dict like row 1.")
        if known is not None and not known.issuperset(map(str, row)):
            extra = [key for key in row if str(key) not in known]
            raise TableError(f"rows: row {number} has keys {extra} that row 1 does not have ({columns}).")
    shown = [[_get(row, name) for name in columns] for row in rows[:max_rows]]

    def csv_content() -> Any:
        if given is None:
            return rows
        return [[_get(row, name) for name in columns] for row in rows]  # only the columns shown

    return TableRows(columns, shown, len(rows), csv_content)


def _get(row: Mapping[Any, Any], name: str) -> Any:
    return row[name] if name in row else row.get(_key_like(row, name))


def _key_like(row: Mapping[Any, Any], name: str) -> Any:
    # Column names are text; a dict keyed by numbers (say, years) is matched by their text.
    return next((key for key in row if str(key) == name), None)


def _from_sequences(rows: Sequence[Any], given: list[str] | None, max_rows: int) -> TableRows:
    columns = given
    if columns is None and rows and hasattr(rows[0], "_fields"):
        columns = [str(name) for name in rows[0]._fields]  # namedtuples, SQLAlchemy rows
    width = len(columns) if columns is not None else None
    if rows and width is None and rows[0].__class__ in (list, tuple):
        width = len(rows[0])
    if width is not None and all(row.__class__ in (list, tuple) and len(row) == width for row in rows):
        return TableRows(columns, [list(row) for row in rows[:max_rows]], len(rows), lambda: rows)
    for number, row in enumerate(rows, start=1):  # not plain lists of one width: find the first bad row
        if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Sequence):
            raise TableError(f"rows: row {number} is {_short(row)}, not a list or tuple of values.")
        if width is None:
            width = len(row)
        if len(row) != width:
            against = f"there are {width} columns" if columns is not None else f"row 1 has {width}"
            values = f"{len(row)} value{'s' if len(row) != 1 else ''}"
            raise TableError(f"rows: row {number} has {values} but {against}; every row needs one per column.")
    shown = [list(row) for row in rows[:max_rows]]
    return TableRows(columns, shown, len(rows), lambda: rows)


def _with_description(value: Any) -> tuple[list[str], Any] | None:
    """Column names and rows from common-sql output that carries a cursor description, else ``None``."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if len(value) == 2 and _is_description(value[0]):
        return [str(column[0]) for column in value[0]], value[1]
    if len(value) == 2 and _is_descriptions(value[0]) and isinstance(value[1], (list, tuple)) and value[1]:
        return _with_description((value[0][-1], value[1][-1]))  # one entry per statement: show the last
    last = value[-1]
    if all(isinstance(pair, (list, tuple)) and len(pair) == 2 and _is_description(pair[0]) for pair in value):
        return [str(column[0]) for column in last[0]], last[1]  # [(description, rows), ...] per statement
    return None


def _is_description(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(
            isinstance(column, (list, tuple)) and len(column) == _DESCRIPTION_ITEMS and isinstance(column[0], str)
            for column in value
        )
    )


def _is_descriptions(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and _is_description(value[-1])


def _is_dataframe(value: Any) -> bool:
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] == "pandas"


def _from_dataframe(frame: Any, given: list[str] | None, max_rows: int) -> TableRows:
    if type(frame.index).__name__ != "RangeIndex":
        frame = frame.reset_index()  # a meaningful index (a group-by's keys) is data the reader needs
    if given is not None:
        by_name = {str(c): c for c in frame.columns}
        unknown = [name for name in given if name not in by_name]
        if unknown:
            raise TableError(f"columns {unknown} are not columns of the DataFrame ({list(by_name)}).")
        frame = frame[[by_name[name] for name in given]]
    columns = [str(c) for c in frame.columns]
    head = frame.head(max_rows).astype(object)
    shown = head.where(head.notna(), None).values.tolist()  # NaN, NaT and NA as None

    def csv_content() -> bytes:
        return frame.to_csv(index=False).encode("utf-8")

    return TableRows(columns, shown, len(frame), csv_content)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
