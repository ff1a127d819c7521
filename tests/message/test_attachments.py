"""message/attachments.py on its own: every accepted form of ``attachments`` becomes a checked ``Attachment``.

Pure functions over local temporary files; no Airflow, DAG or network. Generated CSV and JSON are read back
with the standard library's ``csv`` and ``json`` modules rather than compared with hand-written bytes.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import TYPE_CHECKING

import pytest

from airflow_provider_smtpconn.exceptions import AttachmentError
from airflow_provider_smtpconn.message.attachments import Attachment, normalize_attachments

if TYPE_CHECKING:
    from pathlib import Path


def one(value: object, **kwargs: object) -> Attachment:
    (attachment,) = normalize_attachments(value, **kwargs)  # type: ignore[arg-type]
    return attachment


def csv_rows(data: bytes | Path) -> list[list[str]]:
    assert isinstance(data, bytes)
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 fake")
    return path


# -- accepted forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", [], {}])
def test_empty_value_gives_no_attachment(empty: object) -> None:
    assert normalize_attachments(empty) == []


def test_local_path_as_str_or_path_is_streamed_from_disk_not_read(report: Path) -> None:
    for value in (report, str(report), f"file://{report}"):
        attachment = one(value)
        assert attachment == Attachment("report.pdf", "application/pdf", report)
        assert attachment.size == len(b"%PDF-1.4 fake")


def test_dict_spec_with_path_can_rename_and_retype(report: Path) -> None:
    attachment = one({"path": str(report), "filename": "Q2.pdf", "content_type": "Application/X-Custom"})
    assert attachment == Attachment("Q2.pdf", "application/x-custom", report)


def test_dict_spec_with_text_content_is_utf8_with_charset() -> None:
    attachment = one({"filename": "notes.txt", "content": "caf\u00e9"})
    assert attachment == Attachment("notes.txt", "text/plain; charset=utf-8", "caf\u00e9".encode())


def test_mapping_of_filenames_to_content_gives_one_attachment_each_in_order() -> None:
    attachments = normalize_attachments({"a.txt": "A", "b.bin": b"\x00\x01", "n.txt": 2})
    assert [(a.filename, a.content_type, a.source) for a in attachments] == [
        ("a.txt", "text/plain; charset=utf-8", b"A"),
        ("b.bin", "application/octet-stream", b"\x00\x01"),
        ("n.txt", "text/plain; charset=utf-8", b"2"),
    ]


def test_list_mixes_every_form_and_flattens(report: Path) -> None:
    attachments = normalize_attachments([report, {"filename": "a.txt", "content": "A"}, [{"b.txt": "B"}]])
    assert [a.filename for a in attachments] == ["report.pdf", "a.txt", "b.txt"]


def test_list_rendered_to_text_by_jinja_is_read_back() -> None:
    attachments = normalize_attachments("[{'filename': 'a.txt', 'content': 'A'}, {'b.txt': 'B'}]")
    assert [(a.filename, a.source) for a in attachments] == [("a.txt", b"A"), ("b.txt", b"B")]
    with pytest.raises(AttachmentError, match="render_template_as_native_obj"):
        normalize_attachments("[{'filename': broken}]")


def test_object_with_read_bytes_is_read_once() -> None:
    class Remote:
        name = "remote.csv"
        reads = 0

        def read_bytes(self) -> bytes:
            Remote.reads += 1
            return b"a,b\r\n"

    assert one(Remote()) == Attachment("remote.csv", "text/csv", b"a,b\r\n")
    assert Remote.reads == 1


def test_rows_become_csv_with_the_given_columns() -> None:
    attachment = one({"filename": "rows.csv", "content": [[1, "x,y"], (2, "caf\u00e9")], "columns": ["id", "name"]})
    assert attachment.content_type == "text/csv; charset=utf-8"
    assert csv_rows(attachment.source) == [["id", "name"], ["1", "x,y"], ["2", "caf\u00e9"]]


def test_dict_rows_become_csv_with_the_first_rows_keys_as_header() -> None:
    attachment = one({"rows.csv": [{"id": 1, "name": "a"}, {"name": "b"}]})
    assert csv_rows(attachment.source) == [["id", "name"], ["1", "a"], ["", "b"]]
    assert csv_rows(one({"empty.csv": []}).source) == []


def test_dict_and_list_become_json() -> None:
    content = {"total": 3, "names": ["caf\u00e9", None], "nested": {"ok": True}}
    attachment = one({"filename": "summary.json", "content": content})
    assert attachment.content_type == "application/json"
    assert json.loads(attachment.source) == content
    assert "caf\u00e9".encode() in attachment.source  # not \u escapes
    assert json.loads(one({"list.json": [1, 2]}).source) == [1, 2]


def test_json_values_without_a_json_form_are_written_as_their_text() -> None:
    assert json.loads(one({"a.json": {"when": 1.5, "ids": {7}}}).source) == {"when": 1.5, "ids": "{7}"}


def test_base64_content_is_decoded_ignoring_line_breaks() -> None:
    raw = bytes(range(256))
    encoded = base64.encodebytes(raw).decode("ascii")
    attachment = one({"filename": "blob.txt", "content": encoded, "encoding": "BASE64"})
    assert attachment.source == raw
    assert attachment.content_type == "text/plain"  # no charset claimed for bytes that were given encoded


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("data.csv.gz", "application/gzip"),
        ("data.json.bz2", "application/octet-stream"),
        ("photo.png", "image/png"),
        ("page.html", "text/html; charset=utf-8"),
        ("no-extension", "application/octet-stream"),
        ("archive.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_the_name(filename: str, content_type: str) -> None:
    assert one({filename: "x"}).content_type == content_type


def test_content_type_parameters_are_kept_and_charset_not_doubled() -> None:
    assert one({"filename": "a.txt", "content": "x", "content_type": "text/plain; name=a"}).content_type == (
        "text/plain; name=a; charset=utf-8"
    )
    given = {"filename": "a.txt", "content": "x", "content_type": "text/plain; charset=latin-1"}
    assert one(given).content_type == "text/plain; charset=latin-1"


def test_content_id_is_normalised() -> None:
    assert one({"filename": "logo.png", "content": b"x", "content_id": "<cid:logo@example>"}).content_id == (
        "logo@example"
    )


# -- size limit --------------------------------------------------------------------------------------


def test_size_limit_allows_exactly_the_limit_and_names_the_file_over_it(report: Path) -> None:
    size = len(b"%PDF-1.4 fake")
    assert normalize_attachments(report, max_bytes=size)
    with pytest.raises(AttachmentError, match=rf"'report.pdf' is {size} bytes, over the limit of {size - 1} bytes"):
        normalize_attachments([{"a.txt": "small"}, report], max_bytes=size - 1)


# -- errors name the file and the reason ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"filename": "a.txt", "content": "x", "colour": "red"}, "'a.txt' has unknown keys \\['colour'\\]"),
        ({"content": "x"}, "given by content needs a filename"),
        (
            {"filename": "a.txt", "content": "x", "path": "/tmp/a.txt"},
            "'a.txt' (needs exactly one|has both)",
        ),
        ({"filename": "../etc/passwd", "content": "x"}, "'../etc/passwd' must be a name, not a path"),
        ({"filename": "a\nb.txt", "content": "x"}, "contains a line break or NUL"),
        ({"filename": "  ", "content": "x"}, "is not a non-empty name"),
        ({"filename": "a.bin", "content": [1, 2]}, "'a.bin': content of type list can only become a .csv or .json"),
        ({"filename": "a.bin", "content": "x", "encoding": "hex"}, "'a.bin': encoding 'hex' is not supported"),
        ({"filename": "a.bin", "content": "not base64!", "encoding": "base64"}, "'a.bin': content is not valid base64"),
        ({"filename": "a.bin", "content": 5, "encoding": "base64"}, "base64 content must be text, not a int"),
        ({"filename": "a.bin", "content": "x", "content_type": "text"}, "'a.bin': content_type 'text' is not of"),
        (
            {"filename": "a.png", "content": b"x", "content_id": "a b"},
            "content_id 'a b' is not a valid Content-ID",
        ),
        ({"a.csv": {"k": "v"}}, "'a.csv': a .csv needs a list of rows"),
        ({"a.csv": [["x"], 3]}, "'a.csv': row 2 is 3, not a list"),
        ({"a.csv": [[1], {"k": 1}]}, "'a.csv': row 2 is a dict but row 1 is not"),
        ({"a.csv": [{"k": 1}, {"k": 2, "z": 3}]}, "'a.csv': row 2 has keys \\['z'\\] that are not columns"),
        ({"filename": "a.csv", "content": [[1]], "columns": "id"}, "'a.csv': columns must be a list of names"),
        (42, "An attachment of type int is not supported"),
    ],
)
def test_unusable_attachment_is_refused_naming_it_and_why(value: object, match: str) -> None:
    with pytest.raises(AttachmentError, match=match):
        normalize_attachments(value)


def test_missing_unreadable_or_directory_path_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(AttachmentError, match=f"file '{missing}' does not exist"):
        normalize_attachments(str(missing))
    with pytest.raises(AttachmentError, match=f"path '{tmp_path}' is a directory"):
        normalize_attachments({"path": tmp_path, "filename": "x"})
    with pytest.raises(AttachmentError, match="path is empty"):
        normalize_attachments("   ")

    class Gone:
        name = "gone.txt"

        def read_bytes(self) -> bytes:
            raise FileNotFoundError

    with pytest.raises(AttachmentError, match="does not exist"):
        normalize_attachments(Gone())


# -- a filename key always makes a spec (never a file named "filename"); JSON has no NaN or Infinity ---------


def test_dict_with_a_filename_key_is_always_a_spec() -> None:
    with pytest.raises(AttachmentError, match="'a.txt' needs content or path"):
        normalize_attachments({"filename": "a.txt"})
    with pytest.raises(AttachmentError, match="'a.txt' has both content and path"):
        normalize_attachments({"filename": "a.txt", "content": "x", "path": "/tmp/a.txt"})


def test_nan_and_infinity_become_json_null() -> None:
    content = {"mean": float("nan"), "bounds": (float("-inf"), 1.5, float("inf")), "n": 2}
    data = one({"stats.json": content}).source
    assert isinstance(data, bytes)
    assert json.loads(data, parse_constant=pytest.fail) == {"mean": None, "bounds": [None, 1.5, None], "n": 2}
