"""smtp/data.py on its own: the DATA stream's dot-stuffing, buffering and terminator (RFC 5321 section 4.5.2).

No server and no Airflow: DATA framing is checked by undoing it and parsing the result with the standard library.
"""

from __future__ import annotations

import email
import os
from email import policy
from typing import TYPE_CHECKING

import pytest
from support.messages import composed

from airflow_provider_smtpconn.smtp.data import DataStream

if TYPE_CHECKING:
    from email.message import EmailMessage

DATA = os.urandom(57 * 1024 * 2 + 100)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def undo_dot_stuffing(data: bytes) -> bytes:
    return (b"\r\n" + data).replace(b"\r\n..", b"\r\n.")[2:]


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
    message = composed(to="a@example.org", text=".\n..\n.hidden line\nplain\n",
                       attachments=[{"filename": "d.bin", "content": DATA}])  # fmt: skip
    stream, sent = data_stream(bufsize=4096)
    for chunk in message.chunks():
        stream.write(chunk)
    stream.flush()
    wire = b"".join(sent)
    assert b"\r\n.\r\n" not in wire  # no line with a single dot before the terminator
    assert undo_dot_stuffing(wire) == message.as_bytes()
    assert stream.terminator == b".\r\n"
    body, attachment = parse(undo_dot_stuffing(wire)).iter_parts()
    assert body.get_content().replace("\r\n", "\n") == ".\n..\n.hidden line\nplain\n"
    assert attachment.get_content() == DATA
