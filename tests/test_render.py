"""render.py on its own: StreamedPart, write_message, RenderedMessage, FileSink and DataStream.

No server and no Airflow: what is written is read back with the standard library's parser
(``email.message_from_bytes`` with ``email.policy.default``), and DATA framing is checked by undoing it.
"""

from __future__ import annotations

import base64
import email
import io
import os
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest

from airflow_provider_smtpconn.exceptions import HeaderInjectionError
from airflow_provider_smtpconn.message.headers import SMTP
from airflow_provider_smtpconn.smtp.data import DataStream, FileSink, RenderedMessage, StreamedPart, write_message

if TYPE_CHECKING:
    from pathlib import Path

# Over one 57 KiB read chunk, and not a multiple of 3 or 57, so every boundary case is crossed.
DATA = os.urandom(57 * 1024 * 2 + 100)


def message_with(*parts: StreamedPart, text: str = "Body line\n.starts with a dot\n") -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = "sender@example.org"
    message["To"] = "to@example.org"
    message["Subject"] = "Report"
    message.set_content(text)
    message.make_mixed()
    for part in parts:
        message.attach(part)
    return message


def streamed(source: bytes | Path = DATA, filename: str = "data.bin") -> StreamedPart:
    return StreamedPart(source, filename=filename, content_type="application/octet-stream", policy=SMTP)


def flatten(message: EmailMessage) -> bytes:
    out = io.BytesIO()
    write_message(message, FileSink(out), SMTP)
    return out.getvalue()


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def undo_dot_stuffing(data: bytes) -> bytes:
    return (b"\r\n" + data).replace(b"\r\n..", b"\r\n.")[2:]


# -- write_message and StreamedPart ------------------------------------------------------------------------


def test_streamed_attachment_reads_back_with_the_same_bytes() -> None:
    parsed = parse(flatten(message_with(streamed())))
    assert parsed.get_content_type() == "multipart/mixed"
    assert sorted(parsed.keys()) == ["Content-Type", "From", "MIME-Version", "Subject", "To"]
    body, attachment = parsed.iter_parts()
    assert body.get_content().replace("\r\n", "\n") == "Body line\n.starts with a dot\n"
    assert attachment.get_filename() == "data.bin"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content() == DATA
    assert parsed.defects == [] and attachment.defects == []


def test_attachment_from_a_file_is_streamed_with_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    part = streamed(path, "big.bin")
    assert part.raw_size == len(DATA)
    (_, attachment) = parse(flatten(message_with(part))).iter_parts()
    assert attachment.get_content() == DATA


def test_written_message_has_crlf_line_ends_and_short_lines() -> None:
    data = flatten(message_with(streamed(), text="a\nb\n" + "word " * 40 + "\n"))
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 78
    assert data.endswith(b"--\r\n")


def test_writing_twice_gives_identical_bytes_and_fixes_the_boundary() -> None:
    message = message_with(streamed(), streamed(b"second", "b.txt"))
    assert message.get_boundary() is None
    first = flatten(message)
    boundary = message.get_boundary()
    assert boundary is not None and f"--{boundary}--".encode() in first
    assert flatten(message) == first


@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 57 * 1024, 57 * 1024 + 1])
def test_encoded_size_matches_the_base64_written(size: int) -> None:
    raw = os.urandom(size)
    part = streamed(raw)
    body = b"".join(part.iter_base64())
    assert part.encoded_size() == len(body)
    assert part.encoded_size(linesep=b"\n") == len(b"".join(part.iter_base64(linesep=b"\n")))
    assert base64.b64decode(body) == raw
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def test_standard_email_calls_still_see_the_streamed_content() -> None:
    part = streamed(b"hello")
    assert part.get_content() == b"hello"
    assert parse(part.as_bytes()).get_content() == b"hello"
    with pytest.raises(TypeError, match="cannot be replaced"):
        part.set_payload("other")


def test_streamed_part_headers_go_through_the_guard() -> None:
    part = StreamedPart(
        b"x", filename="caf\u00e9 report.pdf", content_type="application/pdf", disposition="inline", content_id="c1"
    )
    parsed = parse(part.as_bytes())
    assert (parsed.get_filename(), parsed.get_content_disposition(), parsed["Content-ID"]) == (
        "caf\u00e9 report.pdf",
        "inline",
        "<c1>",
    )
    with pytest.raises(HeaderInjectionError, match="contains a line break"):
        streamed(b"x", "a\r\nX-Injected: yes")


# -- RenderedMessage -----------------------------------------------------------------------------------------


def test_rendered_size_equals_the_bytes_written() -> None:
    rendered = RenderedMessage(message_with(streamed(), streamed(b"", "empty.bin")), SMTP)
    out = io.BytesIO()
    rendered.write_to(FileSink(out))
    assert rendered.size == len(out.getvalue())


def test_rendered_message_holds_attachments_by_reference_and_writes_the_same_bytes_each_time() -> None:
    part = streamed()
    message = message_with(part)
    rendered = RenderedMessage(message, SMTP)
    assert [piece for piece in rendered.pieces if not isinstance(piece, bytes)] == [part]
    assert sum(len(piece) for piece in rendered.pieces if isinstance(piece, bytes)) < 1024
    writes = []
    for _ in range(2):
        out = io.BytesIO()
        rendered.write_to(FileSink(out))
        writes.append(out.getvalue())
    assert writes[0] == writes[1] == flatten(message)
    assert parse(writes[0]).get_payload()[1].get_content() == DATA


def test_rendered_message_without_attachments_is_one_piece() -> None:
    message = EmailMessage(policy=SMTP)
    message["Subject"] = "plain"
    message.set_content("hi")
    rendered = RenderedMessage(message, SMTP)
    assert len(rendered.pieces) == 1 and rendered.size == len(rendered.pieces[0])  # type: ignore[arg-type]
    assert parse(rendered.pieces[0]).get_content().strip() == "hi"  # type: ignore[arg-type]


# -- DataStream ----------------------------------------------------------------------------------------------


def data_stream(bufsize: int = 64 * 1024) -> tuple[DataStream, list[bytes]]:
    sent: list[bytes] = []
    return DataStream(sent.append, bufsize=bufsize), sent


def test_data_stream_stuffs_a_dot_at_the_start_of_every_line() -> None:
    stream, sent = data_stream()
    stream.write(b".first\r\nmiddle . dot\r\n.second\r\n..two\r\n")
    stream.flush()
    assert b"".join(sent) == b"..first\r\nmiddle . dot\r\n..second\r\n...two\r\n"
    assert stream.terminator == b".\r\n"


def test_data_stream_stuffs_across_write_boundaries() -> None:
    stream, sent = data_stream()
    for chunk in (b"a\r\n", b".b", b".c\r", b"\n.d", b"", b"e"):
        stream.write(chunk)
    stream.flush()
    assert b"".join(sent) == b"a\r\n..b.c\r\n..de"


@pytest.mark.parametrize(("last", "terminator"), [(b"end\r\n", b".\r\n"), (b"end", b"\r\n.\r\n")])
def test_data_stream_terminator_ends_the_last_line_first(last: bytes, terminator: bytes) -> None:
    stream, _ = data_stream()
    stream.write(last)
    assert stream.terminator == terminator
    assert DataStream(lambda _: None).terminator == b".\r\n"


def test_data_stream_sends_in_buffered_writes() -> None:
    stream, sent = data_stream(bufsize=100)
    for _ in range(10):
        stream.write(b"x" * 30 + b"\r\n")
    assert sent and all(len(chunk) >= 100 for chunk in sent)
    stream.flush()
    stream.flush()
    assert b"".join(sent) == (b"x" * 30 + b"\r\n") * 10


def test_message_through_data_stream_unstuffs_to_the_written_message() -> None:
    message = message_with(streamed(), text=".\n..\n.hidden line\nplain\n")
    stream, sent = data_stream(bufsize=4096)
    RenderedMessage(message, SMTP).write_to(stream)
    stream.flush()
    wire = b"".join(sent)
    assert b"\r\n.\r\n" not in wire  # no line with a single dot before the terminator
    assert undo_dot_stuffing(wire) == flatten(message)
    assert stream.terminator == b".\r\n"
    body, attachment = parse(undo_dot_stuffing(wire)).iter_parts()
    assert body.get_content().replace("\r\n", "\n") == ".\n..\n.hidden line\nplain\n"
    assert attachment.get_content() == DATA
