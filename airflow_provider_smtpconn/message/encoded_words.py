"""Unstructured header values (``Subject``, text headers) that are not plain ASCII, as RFC 2047 encoded words.

The standard library's header folder loses the space between two encoded words where it folds a line, on every
Python this package supports (python/cpython#92081, fixed only in later releases): ``… — 日本語 ✓`` arrives as
``…—日本語 ✓``. RFC 2047 section 6.2 has receivers drop white space between two adjacent encoded words, so a space
that belongs to the text must travel inside an encoded word. This module writes such values itself:

* words of printable ASCII (no ``=?``) stay as they are, one space apart, as the receiver shows them;
* every run of other words, with the spaces between them, becomes one encoded text, UTF-8 in Q or B (whichever is
  shorter), cut into encoded words of whole characters (RFC 2047 section 5) of at most 75 characters;
* a value with leading, trailing or repeated spaces is encoded whole, so no space is lost to unfolding;
* lines fold before a word where they would pass 78 characters (RFC 5322 section 2.1.1).

Decoded by any RFC 2047 reader, the value is exactly the text given.
"""

from __future__ import annotations

import base64
import string

from airflow_provider_smtpconn.exceptions import InvalidMessageError

#: RFC 2047 section 2: an encoded word is at most 75 characters; RFC 5322 section 2.1.1: lines of at most 78.
MAX_WORD = 75
MAX_LINE = 78
#: The longest ASCII word kept as it is; a longer one is encoded, so that it can be cut to fit a line.
MAX_PLAIN_WORD = MAX_LINE - 1
_Q_LITERAL = frozenset((string.ascii_letters + string.digits + "!*+-/").encode("ascii"))
_PREFIX = {"q": "=?utf-8?q?", "b": "=?utf-8?b?"}
_OVERHEAD = len("=?utf-8?q??=")
#: Room an encoded word needs at least: the overhead and one character of four bytes (``=XX`` each in Q).
_MIN_ROOM = _OVERHEAD + 12


def fold_unstructured(name: str, value: str, field: str) -> bytes:
    """``name: value`` and CRLF, the value written as plain words and RFC 2047 encoded words, folded.

    :param field: The parameter the value came from, for the error.
    :raises InvalidMessageError: naming ``field`` if ``value`` is not valid Unicode (a lone surrogate).
    """
    check_unicode(value, field)
    lines: list[str] = []
    line = f"{name}:"
    for text, encode in _runs(value):
        if not encode:
            if len(line) + 1 + len(text) > MAX_LINE and line != f"{name}:":
                lines.append(line)
                line = ""
            line += " " + text
            continue
        scheme = "q" if _q_size(text) <= _b_size(len(text.encode("utf-8"))) else "b"
        while text:
            room = min(MAX_WORD, MAX_LINE - len(line) - 1)
            if room < _MIN_ROOM and line != f"{name}:":
                lines.append(line)
                line, room = "", MAX_WORD
            word, text = _take(text, scheme, max(room, _MIN_ROOM))
            line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def check_unicode(value: str, field: str) -> None:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate, as from bytes decoded with surrogateescape).

    :raises InvalidMessageError: naming ``field``.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessageError(f"{field} {value!r} has characters that are not valid Unicode.") from None


def _runs(value: str) -> list[tuple[str, bool]]:
    """``value`` as ``(text, encode)`` pieces that were one space apart: plain words, and runs of other words."""
    if not value or "  " in value or value != value.strip(" "):
        return [(value, True)]
    runs: list[tuple[str, bool]] = []
    for word in value.split(" "):
        plain = word.isascii() and word.isprintable() and "=?" not in word and len(word) <= MAX_PLAIN_WORD
        if not plain and runs and runs[-1][1]:
            runs[-1] = (f"{runs[-1][0]} {word}", True)
        else:
            runs.append((word, not plain))
    return runs


def _q_size(text: str) -> int:
    return _q_bytes(text.encode("utf-8"))


def _q_bytes(data: bytes) -> int:
    return sum(1 if b in _Q_LITERAL or b == 0x20 else 3 for b in data)


def _b_size(n: int) -> int:
    return 4 * -(-n // 3)


def _take(text: str, scheme: str, room: int) -> tuple[str, str]:
    """The longest prefix of ``text`` (at least one character) whose encoded word fits in ``room`` characters,
    as that encoded word, and the rest of ``text``.
    """
    budget = room - _OVERHEAD
    size = count = 0
    for char in text:
        data = char.encode("utf-8")
        grown = size + (_q_bytes(data) if scheme == "q" else len(data))
        if (grown if scheme == "q" else _b_size(grown)) > budget and count:
            break
        size, count = grown, count + 1
    head = text[:count].encode("utf-8")
    if scheme == "q":
        payload = "".join("_" if b == 0x20 else chr(b) if b in _Q_LITERAL else f"={b:02X}" for b in head)
    else:
        payload = base64.b64encode(head).decode("ascii")
    return f"{_PREFIX[scheme]}{payload}?=", text[count:]
