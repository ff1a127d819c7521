"""Rows as a table in the body: HTML that survives Outlook, Gmail and Apple Mail, and the same table as text.

Email HTML is not web HTML: Outlook on Windows lays mail out with Word's engine and Gmail drops ``<style>``
blocks in many views, so the table is plain ``<table>`` markup with inline ``style`` attributes only (no
``<style>``, no flex or grid), with the attributes Outlook reads besides (``align``, ``bgcolor``, ``cellpadding``).
The shapes of rows accepted are those of :mod:`.table_rows`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import TableError
from airflow_provider_smtpconn.message.table_rows import read_rows

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.table_rows import TableRows

#: Rows shown when ``max_rows`` is not given.
MAX_ROWS = 50
#: The widest a column of the text table gets, in characters; longer cells end in "...".
TEXT_COLUMN_WIDTH = 40

_FONT = "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:20px;color:#1f2328"
_TABLE = f"border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt;{_FONT}"
_CELL = "padding:6px 12px;border:1px solid #d0d7de"
_HEAD_BG, _STRIPE_BG = "#eef1f4", "#f8f9fa"
_NOTE = "margin:8px 0 16px 0;font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:18px;color:#57606a"


class EmailTable:
    """A table for an email body: ``__html__`` gives the HTML (for Jinja and ``markupsafe``), ``str()`` the
    fixed-width text.

    :ivar html: The HTML, as plain text (not ``Markup``, so ``"<p>" + table.html`` is not escaped): the table,
        then a line such as "and 99,950 more rows".
    :ivar text: The same table as fixed-width text, for a plain-text body.
    :ivar attachment: The CSV of every row as an ``attachments`` spec (``filename``, ``content``, ``columns``),
        or ``None`` without ``csv``.
    :ivar shown: Rows shown. :ivar total: Rows in all.
    """

    __slots__ = ("attachment", "columns", "html", "shown", "text", "total")

    def __init__(
        self, html: str, text: str, attachment: dict[str, Any] | None, columns: list[str] | None, shown: int, total: int
    ) -> None:
        self.html, self.text, self.attachment = html, text, attachment
        self.columns, self.shown, self.total = columns, shown, total

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<EmailTable {self.shown} of {self.total} rows, columns {self.columns}>"


def email_table(
    rows: Any,
    *,
    columns: Any = None,
    max_rows: int = MAX_ROWS,
    formats: Mapping[str, Any] | None = None,
    decimals: int = 2,
    csv: str | bool | None = None,
) -> EmailTable:
    """Make a table of ``rows`` for an email body (also the Jinja filter ``email_table``).

    Cells: ``None`` and NaN are empty; whole numbers get thousands separators (``12,345``), other floats
    ``decimals`` places (``1,234.50``), ``Decimal`` keeps its own places; columns whose shown values are all
    numbers are right-aligned; anything else is its text. Every cell and column name is HTML-escaped.

    :param rows: A list of dicts, a list of lists (with ``columns``), common-sql's XCom output or a pandas
        DataFrame; see :mod:`airflow_provider_smtpconn.message.table_rows`.
    :param columns: Column names: the header of rows given as lists; for dicts and DataFrames, the columns to
        show, in this order.
    :param max_rows: At most this many rows are shown (1 or more); a line then says how many more there are.
    :param formats: Per column, a format spec (``",.1f"``, ``".0%"``, ``"%Y-%m-%d"`` for dates) or a function of
        the value returning text; replaces the default formatting of that column.
    :param decimals: Places shown for floats (0 to 10).
    :param csv: A file name ending in ``.csv`` (or ``True`` for ``report.csv``): every row goes in that
        attachment, and the count line says so ("and 950 more rows (all in report.csv)").
    :raises TableError: naming the parameter at fault (a ragged row, an unknown column in ``formats``, ...).
    """
    _check_options(max_rows, decimals)
    filename = _csv_name(csv)
    table = read_rows(rows, columns, max_rows)
    formatters = _formatters(formats, table.columns)
    cells = [[_cell(value, index, formatters, decimals) for index, value in enumerate(row)] for row in table.shown]
    width = len(table.columns) if table.columns is not None else max((len(row) for row in table.shown), default=0)
    numeric = [_is_numeric_column(table.shown, index) for index in range(width)]
    note = _count_line(len(table.shown), table.total, filename)
    attachment = None
    if filename is not None:
        attachment = {"filename": filename, "content": table.csv_content()}
        if table.columns is not None and not isinstance(attachment["content"], bytes):
            attachment["columns"] = table.columns
    return EmailTable(
        _html(table, cells, numeric, note),
        _text(table.columns, cells, numeric, note),
        attachment,
        table.columns,
        len(table.shown),
        table.total,
    )


def _check_options(max_rows: Any, decimals: Any) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise TableError(f"max_rows {max_rows!r} is not a whole number of 1 or more.")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 10:
        raise TableError(f"decimals {decimals!r} is not a whole number from 0 to 10.")


def _csv_name(csv: Any) -> str | None:
    if csv is None or csv is False:
        return None
    if csv is True:
        return "report.csv"
    if not isinstance(csv, str) or not csv.strip().lower().endswith(".csv"):
        raise TableError(f"csv {csv!r} is not a file name ending in .csv (or True for report.csv).")
    return csv.strip()


def _formatters(formats: Any, columns: list[str] | None) -> dict[int, tuple[str, Any]]:
    """``formats`` by column position, each as ``(column name, spec or function)``."""
    if formats is None:
        return {}
    if not isinstance(formats, Mapping):
        raise TableError(f"formats {formats!r} is not a mapping of column names to format specs.")
    if formats and columns is None:
        raise TableError("formats names columns, but the rows have no column names; give columns.")
    found: dict[int, tuple[str, Any]] = {}
    for name, spec in formats.items():
        if str(name) not in (columns or ()):
            raise TableError(f"formats names the column {name!r}, which is not one of the columns {columns}.")
        if not (isinstance(spec, str) or callable(spec)):
            raise TableError(f"formats[{name!r}] {spec!r} is not a format spec (text) or a function.")
        found[(columns or []).index(str(name))] = (str(name), spec)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Decimal):
        return value.is_nan()
    return isinstance(value, float) and math.isnan(value)


def _cell(value: Any, index: int, formatters: dict[int, tuple[str, Any]], decimals: int) -> str:
    if _is_empty(value):
        return ""
    if index in formatters:
        name, spec = formatters[index]
        try:
            if callable(spec):
                return str(spec(value))
            return value.strftime(spec) if hasattr(value, "strftime") and "%" in spec else format(value, spec)
        except Exception as exc:  # a format spec or a caller's function: whatever it raises is bad input
            shown = f"{value!r}"[:80]
            raise TableError(f"formats[{name!r}] {spec!r} cannot format the value {shown} ({exc}).") from None
    try:
        if _is_number(value):
            if isinstance(value, (numbers.Integral, Decimal)):
                return f"{value:,}"
            return f"{value:,.{decimals}f}"
        return str(value)
    except (ValueError, OverflowError) as exc:  # e.g. an int past Python's digit limit
        raise TableError(f"A cell of column {index + 1} cannot be shown as text ({exc}).") from None


def _is_numeric_column(rows: list[list[Any]], index: int) -> bool:
    values = [row[index] for row in rows if index < len(row) and not _is_empty(row[index])]
    return bool(values) and all(_is_number(value) for value in values)


def _count_line(shown: int, total: int, filename: str | None) -> str | None:
    where = f" (all in {filename})" if filename else ""
    if total == 0:
        return "No rows."
    if total > shown:
        more = total - shown
        return f"and {more:,} more row{'s' if more != 1 else ''}{where}"
    if filename is None:
        return None
    return f"The row is also in {filename}." if total == 1 else f"All {total:,} rows are also in {filename}."


def _html(table: TableRows, cells: list[list[str]], numeric: list[bool], note: str | None) -> str:
    parts = [f'<table cellpadding="0" cellspacing="0" border="0" style="{_TABLE}">']
    if table.columns is not None:
        parts.append("<thead><tr>")
        for name, right in zip(table.columns, numeric, strict=True):
            align = "right" if right else "left"
            style = f"{_CELL};background-color:{_HEAD_BG};font-weight:bold;text-align:{align};white-space:nowrap"
            parts.append(f'<th align="{align}" bgcolor="{_HEAD_BG}" style="{style}">{escape(name)}</th>')
        parts.append("</tr></thead>")
    parts.append("<tbody>")
    for number, row in enumerate(cells):
        # Every cell carries its own style: Gmail keeps inline styles only, and the bytes count (Gmail clips a
        # message's HTML past about 100 KB), so the stripe goes on the row.
        stripe = f' bgcolor="{_STRIPE_BG}" style="background-color:{_STRIPE_BG}"' if number % 2 else ""
        parts.append(f"<tr{stripe}>")
        for text, right in zip(row, numeric, strict=False):
            cell = escape(text).replace("\n", "<br>")
            if right:
                parts.append(f'<td align="right" style="{_CELL};text-align:right;white-space:nowrap">{cell}</td>')
            else:
                parts.append(f'<td style="{_CELL}">{cell}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if note is not None:
        parts.append(f'<p style="{_NOTE}">{escape(note)}</p>')
    return "".join(parts)


def _text(columns: list[str] | None, cells: list[list[str]], numeric: list[bool], note: str | None) -> str:
    header = [_clip(name) for name in columns] if columns is not None else None
    body = [[_clip(" ".join(text.split())) for text in row] for row in cells]
    widths = [0] * len(numeric)
    for row in ([header] if header else []) + body:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))

    def line(row: list[str]) -> str:
        cells = zip(row, widths, numeric, strict=False)
        return "  ".join(text.rjust(width) if right else text.ljust(width) for text, width, right in cells).rstrip()

    lines = []
    if header is not None:
        lines += [line(header), "  ".join("-" * width for width in widths)]
    lines += [line(row) for row in body]
    if note is not None:
        lines.append(note)
    return "\n".join(lines) + "\n"


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_COLUMN_WIDTH else text[: TEXT_COLUMN_WIDTH - 3] + "..."
