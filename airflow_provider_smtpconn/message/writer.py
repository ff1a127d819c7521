"""The one MIME writer: a message's wire form, written once, as a :class:`WireMessage`.

Two doors lead here. ``compose.py`` writes a request's message with :class:`WireWriter` and the part writers
below, without building an ``EmailMessage`` first (for a small message most of the time would go to the
``email`` package's header objects, once when a header is set and again when it is folded). And
``email_message.py`` writes a standard library ``EmailMessage`` that Python code hands to the hook with the same
:class:`WireWriter`: its headers take the same short way where they are plain, and its leaves are written from
their encoded payload.

Attachments are never held encoded: a :class:`Base64Source` keeps the raw bytes (or the path of a local file)
and encodes them a slice at a time while the message is written, so a 25 MiB attachment costs a few hundred KiB
of memory, not several copies of the file. A :class:`WireMessage` writes the same bytes every time, so a retry
sends what the first try sent and a dry run writes what a send would send.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from email.message import MIMEPart
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_smtpconn.message.headers import MAX_LINE_HARD, SMTP, naming_field

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_smtpconn.message.attachments import Attachment
    from airflow_provider_smtpconn.message.envelope import Envelope

CRLF = b"\r\n"
# 57 raw bytes make one 76-character base64 line (RFC 2045 section 6.8); encode whole lines at a time.
_RAW_PER_LINE = 57
_LINES_PER_CHUNK = 1024


class Base64Source:
    """An attachment's content, base64-encoded only while it is written.

    :param source: The raw content, or the path of a local file (read once per write, a slice at a time).
    """

    def __init__(self, source: bytes | Path) -> None:
        self.source = source
        self.raw_size = len(source) if isinstance(source, bytes) else source.stat().st_size

    @property
    def encoded_size(self) -> int:
        """The size of the base64 body with CRLF line ends, in bytes, computed without reading the source."""
        n = self.raw_size
        return 4 * -(-n // 3) + -(-n // _RAW_PER_LINE) * 2

    def chunks(self) -> Iterator[bytes]:
        """The base64 body in slices of about 76 KiB, each ending with CRLF."""
        step = _RAW_PER_LINE * _LINES_PER_CHUNK
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for start in range(0, len(view), step):
                yield base64.encodebytes(view[start : start + step]).replace(b"\n", CRLF)
            return
        with self.source.open("rb") as file:
            while chunk := file.read(step):
                yield base64.encodebytes(chunk).replace(b"\n", CRLF)


@dataclass(frozen=True)
class WireMessage:
    """One message as it goes on the wire: its bytes (RFC 5322, CRLF line ends, Bcc left out), envelope and
    Message-ID; what every send, retry and dry run writes.

    :param pieces: Header and body bytes, and the attachments' :class:`Base64Source` in their place.
    :param size: The total size in bytes (what SIZE announces, RFC 1870).
    :param envelope: MAIL FROM and RCPT TO addresses (Bcc included).
    :param message_id: The Message-ID header's value, with its angle brackets.
    :param body_8bit: Whether the bytes hold 8-bit data that could not be re-encoded (a nested message written
        by the ``email`` package): it needs ``BODY=8BITMIME`` (RFC 6152), and a server without it is refused.
    """

    pieces: tuple[bytes | Base64Source, ...]
    size: int
    envelope: Envelope
    message_id: str
    body_8bit: bool = False

    def chunks(self) -> Iterator[bytes]:
        """The message's bytes in order, attachments encoded a slice at a time."""
        for piece in self.pieces:
            if isinstance(piece, Base64Source):
                yield from piece.chunks()
            else:
                yield piece

    def write_to(self, file: BinaryIO) -> None:
        """Write the message to a binary file (an ``.eml``): the bytes a send would send."""
        for chunk in self.chunks():
            file.write(chunk)

    def as_bytes(self) -> bytes:
        """The whole message in memory (for small messages and tests)."""
        return b"".join(self.chunks())


class WireWriter:
    """Collects a message's pieces in order; :meth:`finish` makes the :class:`WireMessage`."""

    def __init__(self) -> None:
        self._pieces: list[bytes | Base64Source] = []
        self._run: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        """Add header or body bytes."""
        self._run.append(data)
        self.size += len(data)

    def stream(self, source: Base64Source) -> None:
        """Add an attachment's base64 body, encoded when the message is written."""
        self._end_run()
        self._pieces.append(source)
        self.size += source.encoded_size

    def finish(self, envelope: Envelope, message_id: str, *, body_8bit: bool = False) -> WireMessage:
        """The message written so far, with its envelope and Message-ID."""
        self._end_run()
        return WireMessage(tuple(self._pieces), self.size, envelope, message_id, body_8bit)

    def _end_run(self) -> None:
        if self._run:
            self._pieces.append(b"".join(self._run))
            self._run = []


def new_boundary() -> str:
    """A multipart boundary that cannot occur in base64 or quoted-printable text (RFC 2046 section 5.1.1)."""
    return "=" * 15 + secrets.token_hex(16) + "=="


def text_part(subtype: str, body: str) -> bytes:
    """Headers, blank line and body of a ``text/<subtype>`` part in UTF-8: 7bit if ASCII with lines of at most 998
    octets (RFC 5322 section 2.1.1), else quoted-printable (8bit would need 8BITMIME from every relay on the way).
    """
    data = body.encode("utf-8", "surrogateescape")
    lines = data.splitlines()
    if body.isascii() and all(len(line) <= MAX_LINE_HARD for line in lines):
        cte, payload = b"7bit", CRLF.join(lines) + CRLF
    else:
        cte, payload = b"quoted-printable", quoted_printable(lines)
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + payload
    )


def quoted_printable(lines: list[bytes]) -> bytes:
    """Text lines (without their ends) as a quoted-printable body with CRLF line ends (RFC 2045 section 6.7)."""
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", CRLF)


def attachment_head(attachment: Attachment, disposition: str) -> bytes:
    """The headers and blank line of an attachment's part; its body follows as a :class:`Base64Source`.

    The file name goes as an RFC 2231 parameter where it needs one, folded by the guarded policy.

    :raises HeaderInjectionError: naming ``attachments: filename`` (or ``content_id``) and the value.
    """
    field, value = "attachments: filename", attachment.filename
    if attachment.content_id is not None and _decodes_unsafely(f"<{attachment.content_id}>"):
        field, value = "attachments: content_id", attachment.content_id
    part = MIMEPart(policy=SMTP)
    with naming_field(field, value):
        part["Content-Type"] = attachment.content_type
        part["Content-Transfer-Encoding"] = "base64"
        part["Content-Disposition"] = disposition
        part.set_param("filename", attachment.filename, header="Content-Disposition")
        if attachment.content_id is not None:
            part["Content-ID"] = f"<{attachment.content_id}>"
    return b"".join(SMTP.fold_binary(name, v) for name, v in part.raw_items()) + CRLF


def _decodes_unsafely(value: str) -> bool:
    from airflow_provider_smtpconn.exceptions import HeaderInjectionError

    try:
        SMTP.header_store_parse("Content-ID", value)
    except HeaderInjectionError:
        return True
    return False
