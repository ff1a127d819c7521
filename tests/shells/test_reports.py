"""Reports in the body, through the one send path to a real server: tables, inline images, inlined CSS and the
derived text part, each read back from what the server received with parsers other than ours (BeautifulSoup for
HTML, ``csv`` for the attachment); bad input fails before anything connects.

The Airflow shells (templates in the operator, the notifier and the merge) are in ``test_reports_airflow.py``.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import re
import subprocess
import sys
from typing import Any

import pytest
from bs4 import BeautifulSoup

from airflow_provider_smtpconn import email_table, inline_image
from airflow_provider_smtpconn.exceptions import InlineImageError, InvalidMessageError, TableError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.sending import EmailRequest, send_email

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFElEQVR4nGNkYGBg+M/AwMDAxMAAAA0DAQDtmd4FAAAAAElFTkSuQmCC"
)
ROWS = [
    {"region": "East", "orders": 1234567, "revenue": 4609.9},
    {"region": "<script>alert(1)</script>", "orders": 2, "revenue": None},
    {"region": "North & South", "orders": 3, "revenue": math.nan},
    {"region": "West", "orders": 4, "revenue": 0.5},
    {"region": "Coast", "orders": 5, "revenue": 12.345},
]


def send(server: Any, smtp_conn: Any, **request: Any) -> Any:
    smtp_conn(server)
    send_email(EmailRequest(to="reader@example.org", subject="Report", **request), SmtpConnHook("smtpconn_default"))
    return server.messages[-1]


def html_soup(message: Any) -> BeautifulSoup:
    return BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")


def plain(message: Any) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def body_cells(soup: BeautifulSoup) -> list[list[str]]:
    return [[td.get_text() for td in tr.find_all("td")] for tr in soup.find("table").find("tbody").find_all("tr")]


# -- tables ---------------------------------------------------------------------------------------------------


def test_table_cells_are_the_rows_formatted_and_escaped_with_the_count_line_and_every_row_in_the_csv(
    smtp_server, smtp_conn
):
    table = email_table(ROWS, max_rows=3, csv="report.csv")
    received = send(smtp_server, smtp_conn, html=f"<h1>Sales</h1>{table.html}", attachments=[table.attachment])

    soup = html_soup(received.message)
    assert soup.find("script") is None  # the cell's <script> is text, not an element
    assert [th.get_text() for th in soup.find("thead").find_all("th")] == ["region", "orders", "revenue"]
    assert body_cells(soup) == [
        ["East", "1,234,567", "4,609.90"],
        ["<script>alert(1)</script>", "2", ""],  # None: empty
        ["North & South", "3", ""],  # NaN: empty
    ]
    for row in soup.find("tbody").find_all("tr"):
        region, orders, revenue = row.find_all("td")
        assert "text-align:right" in orders["style"] and orders["align"] == "right"  # numbers right-aligned
        assert "text-align:right" in revenue["style"]
        assert "text-align:right" not in region["style"]
    assert "and 2 more rows (all in report.csv)" in soup.get_text()
    styles = " ".join(tag.get("style", "") for tag in soup.find_all(True))
    assert soup.find("style") is None and "flex" not in styles and "grid" not in styles  # inline styles only

    (part,) = [p for p in received.message.iter_attachments() if p.get_filename() == "report.csv"]
    rows = list(csv.reader(io.StringIO(part.get_content())))
    assert rows[0] == ["region", "orders", "revenue"]
    assert [r[0] for r in rows[1:]] == [r["region"] for r in ROWS]  # every row, not only the shown ones


def test_the_text_part_has_the_same_table_in_fixed_width(smtp_server, smtp_conn):
    table = email_table(ROWS, max_rows=2)
    received = send(smtp_server, smtp_conn, text=f"Sales:\n\n{table}", html=table.html)

    assert plain(received.message) == (
        "Sales:\n\n"
        "region                        orders   revenue\n"
        "-------------------------  ---------  --------\n"
        "East                       1,234,567  4,609.90\n"
        "<script>alert(1)</script>          2\n"
        "and 3 more rows\n"
    )


def test_columns_pick_and_order_formats_replace_the_default_and_lists_take_column_names(smtp_server, smtp_conn):
    picked = email_table(ROWS[:2], columns=["revenue", "region"], formats={"revenue": ".0f"})
    lists = email_table([[1, "a"], [22, "b"]], columns=["n", "name"], formats={"n": lambda v: f"#{v}"})
    received = send(smtp_server, smtp_conn, html=picked.html + lists.html)

    first, second = html_soup(received.message).find_all("table")
    assert [th.get_text() for th in first.find_all("th")] == ["revenue", "region"]
    assert [[td.get_text() for td in tr.find_all("td")] for tr in first.find("tbody").find_all("tr")] == [
        ["4610", "East"],
        ["", "<script>alert(1)</script>"],
    ]
    assert [[td.get_text() for td in tr.find_all("td")] for tr in second.find("tbody").find_all("tr")] == [
        ["#1", "a"],
        ["#22", "b"],
    ]


def test_common_sql_output_with_its_cursor_description():
    description = [("region", None, None, None, None, None, None), ("orders", None, None, None, None, None, None)]
    rows = [["East", 2], ["West", 1]]
    for output in (
        (description, rows),  # one statement: (description, rows)
        ([description, description], [[["x", 0]], rows]),  # (descriptions, results): the last statement
        [(description, [["x", 0]]), (description, rows)],  # [(description, rows), ...]
        {"columns": ["region", "orders"], "data": rows},  # DataFrame.to_dict(orient="split")
    ):
        table = email_table(output)
        assert table.columns == ["region", "orders"], output
        assert (table.shown, table.total) == (2, 2)
        assert table.text.splitlines()[2:] == ["East         2", "West         1"]


def test_a_dataframe_with_nan_and_a_named_index():
    pandas = pytest.importorskip("pandas", reason="pandas is not installed (it is not a dependency)")
    frame = pandas.DataFrame(
        {"region": ["East", "West", "North"], "revenue": [1234.5, math.nan, 7.0], "orders": [1, 2, None]}
    ).set_index("region")

    table = email_table(frame, max_rows=2, csv="all.csv")

    soup = BeautifulSoup(table.html, "html.parser")
    assert [th.get_text() for th in soup.find_all("th")] == ["region", "revenue", "orders"]  # the index first
    assert body_cells(soup) == [["East", "1,234.50", "1.00"], ["West", "", "2.00"]]
    assert "and 1 more row (all in all.csv)" in soup.get_text()
    assert list(csv.reader(io.StringIO(table.attachment["content"].decode()))) == [
        ["region", "revenue", "orders"],
        ["East", "1234.5", "1.0"],
        ["West", "", "2.0"],
        ["North", "7.0", ""],
    ]


# -- inline images --------------------------------------------------------------------------------------------


def test_cid_references_resolve_to_the_related_parts_and_the_text_names_the_image(smtp_server, smtp_conn, tmp_path):
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    from_bytes = inline_image(PNG, alt="Revenue by region")
    from_base64 = inline_image(base64.b64encode(PNG).decode(), alt="same picture")
    from_path = inline_image(str(path), alt="from a file")
    assert from_bytes.content_id == from_base64.content_id == from_path.content_id  # same bytes, same part
    other = inline_image(b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20, alt="a GIF")
    received = send(
        smtp_server,
        smtp_conn,
        html=f"<p>Chart:</p>{from_bytes.html}{other.html}",
        attachments=[from_bytes.attachment, other.attachment],
    )

    message = received.message
    related = message.get_body(("related",))
    assert related is not None and related.get_content_type() == "multipart/related"
    parts = {str(p["Content-ID"]).strip("<>"): p for p in related.iter_parts() if p.get("Content-ID")}
    images = html_soup(message).find_all("img")
    assert [img["alt"] for img in images] == ["Revenue by region", "a GIF"]
    for img in images:
        part = parts[img["src"].removeprefix("cid:")]  # every cid: reference names a part of the message
        assert part.get_content_disposition() == "inline"
    assert parts[from_bytes.content_id].get_payload(decode=True) == PNG
    assert parts[other.content_id].get_content_type() == "image/gif"
    assert images[0]["width"] == "2"  # the PNG's own width, for Outlook
    assert "[Revenue by region]" in plain(message)


def test_a_matplotlib_figure_becomes_a_png_part(smtp_server, smtp_conn):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (it is not a dependency)")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2))
    figure.subplots().bar(["a", "b"], [3, 5])
    image = inline_image(figure, alt="Bars")
    received = send(smtp_server, smtp_conn, html=image.html, attachments=[image.attachment])

    (part,) = [p for p in received.message.walk() if p.get("Content-ID")]
    assert part.get_content_type() == "image/png"
    assert part.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
    pixels = int.from_bytes(part.get_payload(decode=True)[16:20], "big")  # the PNG's IHDR width
    assert html_soup(received.message).find("img")["width"] == str(pixels // 2)  # 144 dpi, shown at 72


# -- bodies ---------------------------------------------------------------------------------------------------


def test_a_style_block_is_inlined_into_style_attributes(smtp_server, smtp_conn):
    html = "<style>p.note { color: #cf222e; font-weight: bold } td { padding: 4px }</style><p class='note'>Late</p>"
    received = send(smtp_server, smtp_conn, html=html + "<table><tr><td>1</td></tr></table>")

    soup = html_soup(received.message)
    assert soup.find("style") is None
    assert "color: #cf222e" in soup.find("p")["style"] and "font-weight: bold" in soup.find("p")["style"]
    assert "padding: 4px" in soup.find("td")["style"]


def test_inline_css_false_keeps_the_style_block(smtp_server, smtp_conn):
    received = send(smtp_server, smtp_conn, html="<style>p { color: red }</style><p>x</p>", inline_css=False)

    soup = html_soup(received.message)
    assert soup.find("style").get_text() == "p { color: red }"
    assert soup.find("p").get("style") is None


def test_html_without_text_gets_a_text_part_with_links_and_an_authors_text_wins(smtp_server, smtp_conn):
    html = '<p>See <a href="https://airflow.example.org/dags/x">the run</a>.</p>' + email_table(ROWS[:1]).html
    received = send(smtp_server, smtp_conn, html=html)

    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    text = plain(message)
    assert "See the run <https://airflow.example.org/dags/x>." in text
    assert re.search(r"^East +1,234,567 +4,609\.90$", text, re.MULTILINE)

    assert plain(send(smtp_server, smtp_conn, html=html, text="Mine.").message) == "Mine.\n"
    assert len(smtp_server.messages) == 2


# -- bad input: one sentence naming the parameter, before anything connects ----------------------------------


BAD = [
    ("ragged row", lambda: email_table([[1, 2], [3]], columns=["a", "b"]), TableError, "rows: row 2 has 1 value but"),
    ("ragged dict", lambda: email_table([{"a": 1}, {"a": 2, "b": 3}]), TableError, "rows: row 2 has keys ['b']"),
    ("unknown format column", lambda: email_table(ROWS, formats={"profit": ".2f"}), TableError, "formats names"),
    ("bad format spec", lambda: email_table(ROWS, formats={"region": ".2f"}), TableError, "formats['region']"),
    ("max_rows", lambda: email_table(ROWS, max_rows=0), TableError, "max_rows 0"),
    ("csv name", lambda: email_table(ROWS, csv="report.xlsx"), TableError, "csv 'report.xlsx'"),
    ("rows not rows", lambda: email_table("region,orders"), TableError, "rows of type str"),
    ("chart not an image", lambda: inline_image(b"%PDF-1.7 not a picture"), InlineImageError, "not a PNG, JPEG"),
    ("chart text", lambda: inline_image("no such file.png"), InlineImageError, "neither an existing file"),
    ("chart of a number", lambda: inline_image(42), InlineImageError, "value of type int"),
    ("format function raises", lambda: email_table([{"a": 1}], formats={"a": lambda v: 1 / 0}), TableError, "formats"),
    ("number past the digit limit", lambda: email_table([{"a": 10**5000}]), TableError, "column 1"),
    ("chart folder", lambda: inline_image("/tmp"), InlineImageError, "is a folder"),
]


@pytest.mark.parametrize(("case", "make", "error", "names"), BAD, ids=[case[0] for case in BAD])
def test_bad_report_input_is_one_sentence_naming_the_parameter(case, make, error, names):
    with pytest.raises(error) as raised:
        make()
    text = str(raised.value)
    assert names in text, text
    assert text.endswith(".") and text.count(". ") == 0, text  # one sentence


def test_bad_inline_css_and_bad_parts_fail_before_connecting(smtp_server, smtp_conn, guarded):
    smtp_conn(smtp_server)
    hook = SmtpConnHook("smtpconn_default")
    with pytest.raises(InvalidMessageError, match=r"^inline_css 'maybe' is not True or False\.$"):
        send_email(EmailRequest(to="a@example.org", html="<style>p{}</style>", inline_css="maybe"), hook)
    with pytest.raises(TableError, match="rows: row 2"):
        send_email(EmailRequest(to="a@example.org", html=email_table([[1], [2, 3]]).html), hook)
    assert guarded == [] and smtp_server.messages == []


def test_importing_the_package_stays_cheap():
    code = (
        "import sys, airflow_provider_smtpconn as p; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('inscriptis', 'css_inline', 'lxml', 'pandas', "
        "'matplotlib', 'markupsafe') or m.startswith('airflow_provider_smtpconn.message')]; "
        "assert not heavy, heavy; assert callable(p.email_table) and callable(p.inline_image)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
