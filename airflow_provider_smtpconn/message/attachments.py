"""Every accepted attachment input, normalised to :class:`Attachment` (file name, content type, source).

Accepted, alone or in a list: a local path (``str`` or ``pathlib.Path``); an object-storage path (anything with
``read_bytes()``, such as Airflow's ``ObjectStoragePath``, or a ``scheme://`` string); a dict spec with
``filename`` and one of ``content`` or ``path`` (plus ``content_type``, ``encoding: base64``, ``content_id``,
``columns``); or a mapping ``{filename: content}``. Content may be ``bytes``, ``str``, or rows/structures that
become CSV (``.csv``) or JSON (``.json``). Everything is checked here, before anything connects.

Local files are not read here: they are streamed from disk when the message is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_smtpconn.exceptions import AttachmentError
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

_SPEC_KEYS = frozenset({"filename", "content", "path", "content_type", "encoding", "content_id", "columns"})
# multipart/* and message/* may not be base64-encoded (RFC 2045 section 6.4), and attachments always are.
_CONTAINER_TYPES = ("multipart/", "message/")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*(; *[\w.-]+=[\w.\"-]+)*$")


@dataclass(frozen=True)
class Attachment:
    """One attachment ready to compose: its bytes (or local file), name, type, and inline Content-ID."""

    filename: str
    content_type: str
    source: bytes | Path
    content_id: str | None = None

    @property
    def size(self) -> int:
        """Raw size in bytes."""
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size


def normalize_attachments(value: Any, max_bytes: int | None = None) -> list[Attachment]:
    """Turn the operator's ``attachments`` value into a list of checked :class:`Attachment`.

    :param value: Any accepted form (see the module docstring); ``None`` or empty gives no attachment.
    :param max_bytes: The largest size one attachment may have; ``None`` for no limit.
    :raises AttachmentError: naming the attachment and the reason, for the first one that is not usable.
    """
    attachments = [_one(item) for item in _items(value)]
    if max_bytes is not None:
        for attachment in attachments:
            size = attachment.size
            if size > max_bytes:
                raise AttachmentError(
                    f"Attachment {attachment.filename!r} is {size:,} bytes, over the limit of {max_bytes:,} "
                    f"bytes ({max_bytes / 1048576:g} MB); raise max_attachment_mb or send a link instead."
                )
    return attachments


def _items(value: Any) -> list[Any]:
    """Flatten the accepted shapes into single attachments (paths, path-likes and dict specs)."""
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, str) and looks_rendered(value):
        value = read_back(value, "attachments", AttachmentError)
    if isinstance(value, Mapping) and not _is_spec(value):
        return [{"filename": name, "content": content} for name, content in value.items()]
    if isinstance(value, (list, tuple)):
        return [item for element in value for item in _items(element)]
    return [value]


def _is_spec(value: Mapping[Any, Any]) -> bool:
    # A "filename" key always makes a spec: {"filename": "a.txt"} is a spec missing its content, not a file
    # called "filename".
    return "filename" in value or "content" in value or "path" in value


def _one(item: Any) -> Attachment:
    if isinstance(item, Mapping):
        return _from_spec(item)
    if isinstance(item, (str, os.PathLike)) or hasattr(item, "read_bytes"):
        return _from_path(item, filename=None, content_type=None, content_id=None)
    raise AttachmentError(
        f"An attachment of type {type(item).__name__} is not supported: give a path, an ObjectStoragePath, "
        "a dict with filename and content or path, or a mapping of file names to content."
    )


def _from_spec(spec: Mapping[str, Any]) -> Attachment:
    unknown = sorted(set(map(str, spec)) - _SPEC_KEYS)
    filename = spec.get("filename")
    label = repr(filename) if filename else "without a filename"
    if unknown:
        raise AttachmentError(f"Attachment {label} has unknown keys {unknown}; known: {sorted(_SPEC_KEYS)}.")
    if "content" not in spec and "path" not in spec:
        raise AttachmentError(f"Attachment {label} needs content or path.")
    if "content" in spec and "path" in spec:
        raise AttachmentError(f"Attachment {label} has both content and path; give one of them.")
    content_type = spec.get("content_type")
    content_id = _content_id(spec.get("content_id"), label)
    if "path" in spec:
        return _from_path(spec["path"], filename=filename, content_type=content_type, content_id=content_id)
    if not filename:
        raise AttachmentError("An attachment given by content needs a filename.")
    filename = _check_filename(filename)
    data = _content_bytes(filename, spec["content"], spec.get("encoding"), spec.get("columns"))
    mime = _content_type(filename, content_type)
    if mime.startswith("text/") and "charset" not in mime and spec.get("encoding") is None:
        mime += "; charset=utf-8"  # text, rows and numbers are encoded as UTF-8 above
    return Attachment(filename, mime, data, content_id)


def _from_path(path: Any, *, filename: str | None, content_type: str | None, content_id: str | None) -> Attachment:
    if isinstance(path, str) and "://" in path and not path.startswith("file://"):
        from airflow_provider_smtpconn.version_compat import ObjectStoragePath

        path = ObjectStoragePath(path)
    if isinstance(path, str) and path.startswith("file://"):
        path = path.removeprefix("file://")
    # An ObjectStoragePath is a pathlib.Path too with universal-pathlib < 0.3 (Airflow 3.0): read it as storage.
    if isinstance(path, (str, Path)) and not hasattr(path, "protocol"):
        if not str(path).strip():
            raise AttachmentError("An attachment path is empty.")
        local = Path(os.path.expanduser(str(path).strip()))
        if not local.exists():
            raise AttachmentError(f"Attachment file {str(local)!r} does not exist.")
        if local.is_dir():
            raise AttachmentError(f"Attachment path {str(local)!r} is a directory, not a file.")
        if not local.is_file():
            raise AttachmentError(f"Attachment path {str(local)!r} is not a regular file (a device, pipe or socket).")
        if not os.access(local, os.R_OK):
            raise AttachmentError(f"Attachment file {str(local)!r} is not readable by this worker.")
        name = _check_filename(filename or local.name)
        return Attachment(name, _content_type(name, content_type), local, content_id)
    # Object storage (ObjectStoragePath, UPath, or any path-like with read_bytes): read it once, now.
    name = _check_filename(filename or getattr(path, "name", "") or "attachment")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AttachmentError(f"Attachment {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise AttachmentError(f"Attachment path {str(path)!r} is a directory, not a file.") from None
    except OSError as exc:
        raise AttachmentError(f"Attachment {str(path)!r} could not be read: {exc}.") from None
    return Attachment(name, _content_type(name, content_type), bytes(data), content_id)


def _content_bytes(filename: str, content: Any, encoding: str | None, columns: Any) -> bytes:
    lower = filename.lower()
    if encoding is not None and str(encoding).lower() != "base64":
        raise AttachmentError(f"Attachment {filename!r}: encoding {encoding!r} is not supported; use 'base64'.")
    if encoding is not None:
        return _from_base64(filename, content)
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    if isinstance(content, str) and lower.endswith((".csv", ".json")) and looks_rendered(content):
        content = _structured_text(filename, content)  # a list or dict Jinja rendered to text
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (int, float)) and not isinstance(content, bool) and not lower.endswith(".json"):
        return str(content).encode("utf-8")  # a native-rendered "{{ 1 + 1 }}"
    if lower.endswith(".csv"):
        return _to_csv(filename, content, columns)
    if lower.endswith(".json"):
        return _to_json(filename, content)
    raise AttachmentError(
        f"Attachment {filename!r}: content of type {type(content).__name__} can only become a .csv or "
        ".json file; give bytes or text for other names."
    )


def _structured_text(filename: str, text: str) -> Any:
    """The rows or structure behind text that Jinja rendered from a list or dict.

    Strict JSON text for a ``.json`` name stays as it is; JSON with ``NaN`` or ``Infinity`` (which RFC 8259 does
    not allow) is read and written again, with ``null`` for them.
    """
    import json

    if filename.lower().endswith(".json"):
        try:
            json.loads(text, parse_constant=_reject_constant)
            return text
        except ValueError:
            pass
        try:
            return json.loads(text)
        except ValueError:
            pass
    return read_back(text, f"Attachment {filename!r}: content", AttachmentError)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _from_base64(filename: str, content: Any) -> bytes:
    import base64
    import binascii

    if isinstance(content, str):
        content = content.encode("ascii", "replace")
    if not isinstance(content, (bytes, bytearray)):
        raise AttachmentError(f"Attachment {filename!r}: base64 content must be text, not a {type(content).__name__}.")
    try:
        return base64.b64decode(b"".join(bytes(content).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentError(f"Attachment {filename!r}: content is not valid base64 ({exc}).") from None


def _to_csv(filename: str, rows: Any, columns: Any) -> bytes:
    import csv
    import io

    if isinstance(rows, Mapping) or not isinstance(rows, (list, tuple)):
        raise AttachmentError(
            f"Attachment {filename!r}: a .csv needs a list of rows (lists, tuples or dicts), "
            f"not a {type(rows).__name__}."
        )
    if columns is not None and (isinstance(columns, str) or not isinstance(columns, (list, tuple))):
        raise AttachmentError(f"Attachment {filename!r}: columns must be a list of names, not {columns!r}.")
    buffer = io.BytesIO()
    text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    writer = csv.writer(text)
    header = list(columns) if columns is not None else None
    if header is None and rows and isinstance(rows[0], Mapping):
        header = list(rows[0].keys())
    if header is not None:
        writer.writerow(header)
    for number, row in enumerate(rows, start=1):
        if isinstance(row, Mapping):
            if header is None:
                raise AttachmentError(f"Attachment {filename!r}: row {number} is a dict but row 1 is not.")
            extra = [k for k in row if k not in header]
            if extra:
                raise AttachmentError(
                    f"Attachment {filename!r}: row {number} has keys {extra} that are not columns {header}."
                )
            writer.writerow([row.get(k, "") for k in header])
        elif isinstance(row, (list, tuple)):
            writer.writerow(row)
        else:
            raise AttachmentError(f"Attachment {filename!r}: row {number} is {row!r}, not a list, tuple or dict.")
    text.flush()
    text.detach()
    return buffer.getvalue()


def _to_json(filename: str, content: Any) -> bytes:
    import json

    try:
        return json.dumps(_finite(content), indent=2, ensure_ascii=False, default=str, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise AttachmentError(f"Attachment {filename!r}: content cannot become JSON ({exc}).") from None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: JSON (RFC 8259 §6) has no such numbers, and ``null`` is what
    pandas' ``to_json`` and JavaScript's ``JSON.stringify`` write for them.
    """
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _check_filename(filename: Any) -> str:
    if not isinstance(filename, str) or not filename.strip():
        raise AttachmentError(f"Attachment filename {filename!r} is not a non-empty name.")
    if any(c in filename for c in "\r\n\0"):
        raise AttachmentError(f"Attachment filename {filename!r} contains a line break or NUL.")
    if "/" in filename or "\\" in filename:
        raise AttachmentError(f"Attachment filename {filename!r} must be a name, not a path.")
    return filename.strip()


def _content_type(filename: str, given: Any) -> str:
    if given is None:
        import mimetypes

        guessed, compression = mimetypes.guess_type(filename, strict=False)
        if compression is not None:  # report.csv.gz is a gzip file, not text/csv
            return "application/gzip" if compression == "gzip" else "application/octet-stream"
        if guessed is None or guessed.startswith(_CONTAINER_TYPES):
            return "application/octet-stream"  # a .eml file is attached as a file, not as a nested message
        return guessed
    if not isinstance(given, str) or not _CONTENT_TYPE.match(given.strip()):
        raise AttachmentError(f"Attachment {filename!r}: content_type {given!r} is not of the form type/subtype.")
    if given.strip().lower().startswith(_CONTAINER_TYPES):
        raise AttachmentError(
            f"Attachment {filename!r}: content_type {given!r} is a container type, which RFC 2045 section 6.4 "
            "forbids to send base64-encoded; use application/octet-stream."
        )
    return given.strip().lower()


def _content_id(value: Any, label: str) -> str | None:
    if value is None:
        return None
    cid = str(value).strip().removeprefix("<").removesuffix(">").removeprefix("cid:")
    if not cid or any(c.isspace() or c in '<>"' for c in cid) or not cid.isascii():
        raise AttachmentError(f"Attachment {label}: content_id {value!r} is not a valid Content-ID.")
    return cid
