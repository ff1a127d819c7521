"""Charts inline: an image shown in the HTML body (``<img src="cid:...">``) and carried as a related part.

RFC 2392 ``cid:`` URLs name a body part by its Content-ID; the part goes in the ``multipart/related`` around the
HTML (``compose`` builds it for attachments with a ``content_id``). Accepted images: a matplotlib Figure (saved
as PNG; matplotlib is never imported here, the figure saves itself), PNG, JPEG or GIF bytes, the same as base64
text (an XCom cannot carry bytes) or a ``data:image/...;base64,`` URL, or a path (local, or anything with
``read_bytes()`` such as ``ObjectStoragePath``). The bytes are checked to be one of those three formats by their
first bytes, before anything connects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InlineImageError

if TYPE_CHECKING:
    from collections.abc import Callable

#: The widest an image is shown without ``width``, in CSS pixels: what a mail client's reading pane fits.
MAX_WIDTH = 600
#: Resolution a matplotlib Figure is saved at, in dots per inch (shown at half its pixel width: sharp on HiDPI).
FIGURE_DPI = 144
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
_LONGEST_PATH = 4096


class InlineImage:
    """An image for the HTML body: ``__html__`` gives the ``<img>``, ``str()`` the alt text in brackets (what
    the plain-text alternative says in its place).

    :ivar attachment: The part as an ``attachments`` spec: ``filename``, ``content`` (bytes), ``content_type``
        and ``content_id``.
    :ivar alt: The alt text. :ivar width: The width shown, in CSS pixels, or ``None``.
    """

    __slots__ = ("_on_use", "alt", "attachment", "width")

    def __init__(
        self,
        attachment: dict[str, Any],
        alt: str,
        width: int | None,
        on_use: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        self.attachment, self.alt, self.width, self._on_use = attachment, alt, width, on_use

    @property
    def content_id(self) -> str:
        """The Content-ID the ``<img>`` refers to (without angle brackets)."""
        return str(self.attachment["content_id"])

    @property
    def html(self) -> str:
        """The ``<img>`` element (with ``width`` for Outlook, which ignores CSS sizes on images), as plain text."""
        width = f' width="{self.width}"' if self.width else ""
        style = "display:block;border:0;outline:none;text-decoration:none;max-width:100%;height:auto"
        return f'<img src="cid:{self.content_id}" alt="{escape(self.alt)}"{width} style="{style}">'

    def __html__(self) -> str:
        if self._on_use is not None:
            self._on_use(self.attachment)  # written into the HTML: the message needs the part
        return self.html

    def __str__(self) -> str:
        return f"[{self.alt}]" if self.alt else "[image]"

    def __repr__(self) -> str:
        return f"<InlineImage cid:{self.content_id} {self.attachment['content_type']}, alt {self.alt!r}>"


def inline_image(
    value: Any,
    alt: str = "",
    *,
    width: int | None = None,
    filename: str | None = None,
    on_use: Callable[[dict[str, Any]], object] | None = None,
) -> InlineImage:
    """Make an inline image of ``value`` (also the template global ``inline_image(...)``).

    :param value: A matplotlib Figure, image bytes, base64 text (or a ``data:`` URL), or a path.
    :param alt: Alt text: shown where images are blocked, and in the plain-text alternative.
    :param width: Width in CSS pixels; default: the image's own (half a Figure's pixels), at most 600.
    :param filename: The part's file name; default ``image-<hash>.<png|jpg|gif>``.
    :param on_use: Called with :attr:`InlineImage.attachment` when the ``<img>`` is written into HTML (how a
        template adds the part to the message it renders).
    :raises InlineImageError: naming ``inline_image`` and what is wrong with ``value``, ``alt`` or ``width``.
    """
    if not isinstance(alt, str):
        raise InlineImageError(f"inline_image alt {alt!r} is not text.")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 4000):
        raise InlineImageError(f"inline_image width {width!r} is not a whole number of pixels from 1 to 4000.")
    data, scale = _image_bytes(value), 1
    if _is_figure(value):
        scale = 2  # saved at FIGURE_DPI, twice the 72 dpi a CSS pixel stands for
    content_type, extension = _format_of(data, value)
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = filename or f"image-{digest}.{extension}"
    if width is None:
        natural = _pixel_width(data)
        width = min(MAX_WIDTH, natural // scale) if natural else None
    attachment = {"filename": name, "content": data, "content_type": content_type, "content_id": f"{digest}@inline"}
    return InlineImage(attachment, alt, width, on_use)


def _is_figure(value: Any) -> bool:
    return callable(getattr(value, "savefig", None)) and type(value).__module__.split(".")[0] == "matplotlib"


def _image_bytes(value: Any) -> bytes:
    if _is_figure(value):
        import io

        buffer = io.BytesIO()
        try:
            value.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        except Exception as exc:  # a figure that cannot be drawn is bad input, whatever matplotlib raised
            raise InlineImageError(f"inline_image could not save the matplotlib figure as PNG ({exc}).") from None
        return buffer.getvalue()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, os.PathLike) or hasattr(value, "read_bytes"):
        return _read(value)
    raise InlineImageError(
        f"inline_image value of type {type(value).__name__} is not a matplotlib Figure, image bytes, base64 text "
        "or a path."
    )


def _from_text(text: str) -> bytes:
    stripped = text.strip()
    if stripped.startswith("data:"):
        head, _, payload = stripped.partition(",")
        if ";base64" not in head:
            raise InlineImageError(f"inline_image value {stripped[:40]!r}... is a data: URL without ;base64.")
        return _decode(payload)
    if len(stripped) <= _LONGEST_PATH and ("/" in stripped or "\\" in stripped or "." in stripped):
        path = Path(os.path.expanduser(stripped))
        try:
            if path.is_file():
                return _read(path)
            if path.is_dir():
                raise InlineImageError(f"inline_image value {_shown(stripped)} is a folder, not an image file.")
        except OSError:
            pass  # not a usable path name: read it as base64 below
    try:
        return _decode(stripped)
    except InlineImageError:
        raise InlineImageError(
            f"inline_image value {_shown(stripped)} is neither an existing file nor base64 image data."
        ) from None


def _decode(payload: str) -> bytes:
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InlineImageError(f"inline_image value is not valid base64 ({exc}).") from None


def _read(path: Any) -> bytes:
    try:
        return bytes(path.read_bytes() if hasattr(path, "read_bytes") else Path(path).read_bytes())
    except OSError as exc:
        raise InlineImageError(f"inline_image could not read {str(path)!r} ({exc.strerror or exc}).") from None


def _format_of(data: bytes, value: Any) -> tuple[str, str]:
    for magic, content_type, extension in _MAGIC:
        if data.startswith(magic):
            return content_type, extension
    where = f"the file {str(value)!r}" if isinstance(value, os.PathLike) else "value"
    raise InlineImageError(f"inline_image {where} is not a PNG, JPEG or GIF image.")


def _pixel_width(data: bytes) -> int | None:
    """The width in pixels from a PNG's IHDR chunk or a GIF's screen descriptor; ``None`` for JPEG."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int(struct.unpack(">I", data[16:20])[0])
    if data.startswith(b"GIF") and len(data) >= 10:
        return int(struct.unpack("<H", data[6:8])[0])
    return None


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
