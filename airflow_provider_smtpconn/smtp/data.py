"""Flattening a message onto the wire in chunks, without ever holding it whole (the one place MIME is written).

``email``'s own generator renders every part into a buffer and then copies the buffers into their parent, so a
message exists several times over in memory while it is flattened; for a 25 MiB attachment that is the
difference between a small worker and an out-of-memory kill. Here the tree is walked once, headers are folded
by the message's own policy, ordinary leaves are still flattened by ``BytesGenerator`` (they are small), and
attachments are :class:`StreamedPart` leaves whose bytes stay as they were given (or on disk) and are base64
encoded a slice at a time as they are written.
"""

from __future__ import annotations

import base64
import secrets
from email.generator import BytesGenerator
from email.message import Message, MIMEPart
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from email.policy import Policy
    from pathlib import Path

CRLF = b"\r\n"
# 57 raw bytes make one 76-character base64 line; read whole lines at a time.
_RAW_PER_LINE = 57
_LINES_PER_CHUNK = 1024


class StreamedPart(MIMEPart):
    """A base64 leaf whose body is produced from its source only while it is written.

    ``source`` is the raw content as ``bytes`` or the path of a local file. Standard ``email`` calls
    (``get_content``, ``as_bytes``) still work: they see the encoded payload, computed on demand.
    """

    def __init__(
        self,
        source: bytes | Path,
        *,
        filename: str,
        content_type: str,
        disposition: str = "attachment",
        content_id: str | None = None,
        policy: Policy | None = None,
    ) -> None:
        self._source = source
        self.raw_size = len(source) if isinstance(source, bytes) else source.stat().st_size
        super().__init__(policy=policy)
        self["Content-Type"] = content_type
        self["Content-Transfer-Encoding"] = "base64"
        self["Content-Disposition"] = disposition
        self.set_param("filename", filename, header="Content-Disposition")
        if content_id is not None:
            self["Content-ID"] = f"<{content_id}>"

    # The email package reads and writes ``_payload`` directly; route it to the source.
    @property
    def _payload(self) -> str:
        return b"".join(self.iter_base64(linesep=b"\n")).decode("ascii")

    @_payload.setter
    def _payload(self, value: Any) -> None:
        if value is not None:
            raise TypeError("A StreamedPart's content comes from its source and cannot be replaced.")

    def is_multipart(self) -> bool:
        """Always ``False``: a streamed part is a leaf."""
        return False

    def encoded_size(self, linesep: bytes = CRLF) -> int:
        """The size of the base64 body, computed without reading the source."""
        n = self.raw_size
        return 4 * -(-n // 3) + -(-n // _RAW_PER_LINE) * len(linesep)

    def iter_base64(self, linesep: bytes = CRLF) -> Iterator[bytes]:
        """Yield the base64 body in slices of about 76 KiB, reading the source once."""
        step = _RAW_PER_LINE * _LINES_PER_CHUNK
        if isinstance(self._source, bytes):
            view = memoryview(self._source)
            chunks: Iterator[bytes | memoryview] = (view[i : i + step] for i in range(0, len(view), step))
        else:
            chunks = _read_chunks(self._source, step)
        for chunk in chunks:
            encoded = base64.encodebytes(chunk)
            yield encoded if linesep == b"\n" else encoded.replace(b"\n", linesep)


def _read_chunks(path: Path, step: int) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(step):
            yield chunk


class Sink(Protocol):
    """Where :func:`write_message` puts the bytes."""

    def write(self, data: bytes) -> object:
        """Take the next bytes of the message."""
        ...

    def write_streamed(self, part: StreamedPart) -> None:
        """Take a streamed part's body (headers were written already)."""
        ...


class FileSink:
    """A sink writing to a binary file object, such as an ``.eml`` file."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: bytes) -> None:
        """Write ``data`` to the file."""
        self._file.write(data)

    def write_streamed(self, part: StreamedPart) -> None:
        """Write the part's base64 body to the file, a slice at a time."""
        for chunk in part.iter_base64():
            self._file.write(chunk)


class RenderedMessage:
    """A message flattened once: its bytes (headers, small bodies) and its streamed parts, in order.

    The size is known without a second flattening pass, and every send (or retry) writes the same bytes.
    Attachments stay :class:`StreamedPart` references, streamed when written: only the small pieces are held.
    """

    def __init__(self, message: Message, policy: Policy) -> None:
        self.pieces: list[bytes | StreamedPart] = []
        self.size = 0
        self._run: list[bytes] = []
        write_message(message, self, policy)
        self._end_run()

    def write(self, data: bytes) -> None:
        """Keep ``data`` (small pieces: headers and short bodies)."""
        if data:
            self._run.append(bytes(data))
            self.size += len(data)

    def write_streamed(self, part: StreamedPart) -> None:
        """Keep a reference to the part; its body is streamed when the message is written."""
        self._end_run()
        self.pieces.append(part)
        self.size += part.encoded_size()

    def _end_run(self) -> None:
        if self._run:
            self.pieces.append(b"".join(self._run))
            self._run = []

    def write_to(self, sink: Sink) -> None:
        """Write the message to ``sink``: the same bytes every time."""
        for piece in self.pieces:
            if isinstance(piece, StreamedPart):
                sink.write_streamed(piece)
            else:
                sink.write(piece)


def write_message(message: Message, sink: Sink, policy: Policy) -> None:
    """Write ``message`` to ``sink`` with CRLF line ends, as ``policy`` folds its headers.

    Multipart boundaries that are missing are chosen and set on the message first, so two writes of the same
    message produce the same bytes.
    """
    _write_part(message, sink, policy.clone(linesep="\r\n"))


def _write_part(part: Message, sink: Sink, policy: Policy) -> None:
    if isinstance(part, StreamedPart):
        _write_headers(part, sink, policy)
        sink.write_streamed(part)
        return
    subparts = part.get_payload()
    if part.get_content_maintype() != "multipart" or not isinstance(subparts, list):
        BytesGenerator(sink, mangle_from_=False, policy=policy).flatten(part, linesep="\r\n")
        return
    boundary = part.get_boundary()
    if boundary is None:
        boundary = "=" * 15 + secrets.token_hex(16) + "=="
        part.set_boundary(boundary)
    delimiter = b"--" + boundary.encode("ascii")
    _write_headers(part, sink, policy)
    if part.preamble is not None:
        sink.write(_crlf_lines(part.preamble) + CRLF)
    sink.write(delimiter + CRLF)
    for index, subpart in enumerate(subparts):
        if index:
            sink.write(CRLF + delimiter + CRLF)
        _write_part(subpart, sink, policy)
    sink.write(CRLF + delimiter + b"--" + CRLF)
    if part.epilogue is not None:
        sink.write(_crlf_lines(part.epilogue))


def _write_headers(part: Message, sink: Sink, policy: Policy) -> None:
    for name, value in part.raw_items():
        sink.write(policy.fold_binary(name, value))
    sink.write(CRLF)


def _crlf_lines(text: str) -> bytes:
    return CRLF.join(text.encode("utf-8", "surrogateescape").splitlines())


class DataStream:
    """A :class:`Sink` for SMTP DATA (RFC 5321 §4.5.2): dot-stuffs lines that start with a period and hands the
    bytes to ``send`` in writes of about ``bufsize`` bytes (64 KiB).
    """

    def __init__(self, send: Callable[[bytes], object], bufsize: int = 64 * 1024) -> None:
        self._send = send
        self._bufsize = bufsize
        self._buffer = bytearray()
        self._line_start = True

    def write(self, data: bytes) -> None:
        """Add ``data``, stuffing a period at the start of any line."""
        if not data:
            return
        if self._line_start and data[:1] == b".":
            self._buffer += b"."
        self._buffer += data.replace(b"\n.", b"\n..")
        self._line_start = data.endswith(b"\n")
        if len(self._buffer) >= self._bufsize:
            self.flush()

    def write_streamed(self, part: StreamedPart) -> None:
        """Add a streamed part's base64 body; base64 lines never start with a period, so nothing is stuffed."""
        for chunk in part.iter_base64():
            self.write(chunk)

    def flush(self) -> None:
        """Send what is buffered."""
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    @property
    def terminator(self) -> bytes:
        """The end of DATA: a line with a single period (after a CRLF if the body did not end with one)."""
        return (b"" if self._line_start else CRLF) + b"." + CRLF


def has_8bit_body(message: Message) -> bool:
    """Whether a part (other than streamed ones, always base64) is sent as 8bit, which needs BODY=8BITMIME."""
    return any(
        str(part.get("Content-Transfer-Encoding", "")).lower() == "8bit"
        for part in message.walk()
        if not isinstance(part, StreamedPart)
    )
