"""The SMTP DATA stream (RFC 5321 section 4.5.2): dot-stuffing, and writes of a size the socket likes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

CRLF = b"\r\n"


class DataStream:
    """The body of SMTP DATA (RFC 5321 §4.5.2): dot-stuffs lines that start with a period and hands the
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

    def flush(self) -> None:
        """Send what is buffered."""
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    @property
    def terminator(self) -> bytes:
        """The end of DATA: a line with a single period (after a CRLF if the body did not end with one)."""
        return (b"" if self._line_start else CRLF) + b"." + CRLF
