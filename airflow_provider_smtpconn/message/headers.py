"""Every header of a message: the one header guard, the ``email`` policy, custom headers, and header lines as written.

The standard library's header parser decodes RFC 2047 encoded words in the values it is given, and RFC 2231
parameters in structured headers; a value such as ``=?utf-8?q?=0A?=Bcc: x@example.net`` decodes to a line
break that the generator then writes out as a real one, a second header. :class:`GuardedPolicy` checks every
header as it is stored (``msg[name] = value``, ``set_param``, ``set_content``: all go through
``header_store_parse``): the value as given, the value as decoded, and every decoded parameter must be free of
CR, LF and NUL. There is no other way into a message's headers.

The writer's header lines come from here too: a plain value (printable ASCII, no encoded word) is written as it
is, folded at spaces where a line would pass 78 characters (RFC 5322 section 2.1.1); other unstructured text
(``Subject``, custom text headers) is guarded and written as RFC 2047 encoded words by ``encoded_words.py``; any
other value is parsed, guarded and folded by the policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import contextmanager
from email.header import decode_header
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.policy import EmailPolicy
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.encoded_words import check_unicode, fold_unstructured
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import EmailMessage
    from email.policy import Policy

# What str.splitlines() splits on, and NUL.
_FORBIDDEN = frozenset("\r\n\0\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[qQbB]\?[^?\s]*\?=")


class _CachedHeaderRegistry(HeaderRegistry):
    """A ``HeaderRegistry`` that makes each header class once; the standard one builds a new class (``type()``)
    for every header it parses, which is much of the cost of composing a small message.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


def _unsafe(text: str) -> bool:
    return any(c in _FORBIDDEN for c in text)


def _encoded_words(text: str) -> Iterator[str]:
    """The decoded text of every RFC 2047 encoded word in ``text``, wherever it stands.

    Also inside a word or a quoted string, where RFC 2047 §5 does not allow one: lenient receivers (and
    ``email.header.decode_header``) decode them there too.
    """
    for match in _ENCODED_WORD.finditer(text):
        try:
            parts = decode_header(match.group())
        except (ValueError, LookupError):  # undecodable: no receiver can turn it into a line break either
            continue
        for raw, charset in parts:
            if isinstance(raw, str):
                yield raw
                continue
            try:
                yield raw.decode(charset or "ascii")
            except (LookupError, UnicodeDecodeError):
                yield raw.decode("latin-1")


def check_header(name: str, value: Any, parsed: Any = None) -> None:
    """Refuse a header value that is, or decodes to, text with a line break or NUL.

    A line break is anything ``str.splitlines`` splits on (CR, LF, and the Unicode line and paragraph
    separators, among others). Decoded means the RFC 2047 encoded words of the value as given (wherever they
    stand), and the text and RFC 2231 parameters of the header the policy parsed from it.

    :param name: The header's name, for the error.
    :param value: The value as given.
    :param parsed: The header object the policy parsed from it, if any.
    :raises HeaderInjectionError: naming the header and the value as given.
    """
    given = value if isinstance(value, str) else str(value)
    if isinstance(value, str) and _unsafe(value):
        raise HeaderInjectionError(name, value, "contains a line break or NUL")
    texts = [given]
    if parsed is not None:
        texts += [str(parsed), *(v for v in getattr(parsed, "params", {}).values() if isinstance(v, str))]
    decoded = [*texts[1:], *(word for text in texts for word in _encoded_words(text))]
    if any(_unsafe(text) for text in decoded):
        raise HeaderInjectionError(name, given, "decodes to a line break or NUL")


@contextmanager
def naming_field(name: str, value: str | None = None) -> Iterator[None]:
    """Header errors raised inside name the parameter ``name`` (and its ``value``) the header came from.

    :raises HeaderInjectionError: naming ``name`` instead of the header.
    """
    try:
        yield
    except HeaderInjectionError as exc:
        raise exc.naming(name, value) from None


class GuardedPolicy(EmailPolicy):
    """``email.policy.SMTP`` (CRLF, RFC 5322 folding) whose every stored header passes :func:`check_header`."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        """Parse ``value`` as the standard policy does, refusing CR, LF or NUL before and after decoding.

        :raises HeaderInjectionError: see :func:`check_header`.
        """
        check_header(name, value)
        try:
            stored = super().header_store_parse(name, value)
        except ValueError as exc:  # e.g. an address whose decoded display name has a line break
            raise HeaderInjectionError(name, str(value), "decodes to a line break or NUL") from exc
        check_header(name, value, stored[1])
        if not isinstance(value, str) and hasattr(stored[1], "addresses"):
            # Address objects carry display names as given; the folder re-parses them and would decode an
            # encoded word there. Parse the header's text once more, as the folder will, and check that.
            self.header_store_parse(name, str(stored[1]))
        return stored


#: Headers the message's structure or its own parameters own, and the parameter to use instead.
_RESERVED = {
    "from": "from_email", "to": "to", "cc": "cc", "bcc": "bcc", "reply-to": "reply_to", "subject": "subject",
    "importance": "importance", "x-priority": "importance",
    "date": "none: the date is set when the message is composed",
    "message-id": "none: it is derived from the task so it stays the same across retries",
    "mime-version": "text, html and attachments", "content-type": "text, html and attachments",
    "content-transfer-encoding": "text, html and attachments", "content-disposition": "attachments",
    "return-path": "none: the receiving server sets it",
    "list-unsubscribe": "list_unsubscribe", "list-unsubscribe-post": "list_unsubscribe",
    "dkim-signature": "none: the connection's dkim_domain, dkim_selector and dkim_private_key sign the message",
    **{
        f"resent-{name}": "none: Resent- headers are for re-sending a received message (RFC 5322 section 3.6.6)"
        for name in ("from", "sender", "to", "cc", "bcc", "date", "message-id")
    },
}  # fmt: skip
#: The longest header name accepted: a name cannot be folded, and must leave room for its value on a line.
MAX_NAME_LENGTH = 76


HEADERS = _CachedHeaderRegistry()
#: The policy of every message this package composes.
SMTP = GuardedPolicy(linesep="\r\n", header_factory=HEADERS)
#: The same for a message with a non-ASCII address, sent with SMTPUTF8 (RFC 6531): UTF-8 headers, not encoded words.
SMTP_UTF8 = SMTP.clone(utf8=True)
#: RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters and MUST be at most 998.
MAX_LINE = 78
MAX_LINE_HARD = 998


def add_custom_headers(msg: EmailMessage, headers: Any) -> None:
    """Add the ``headers`` parameter's headers to ``msg``.

    ``headers`` is a mapping of names to text or numbers (or a mapping that Jinja rendered to text). Names are
    RFC 5322 field names (printable ASCII, no colon, at most 76 characters), each once whatever its case, and
    not one the operator owns; each value passes the header guard.

    :raises InvalidMessageError: naming the header and the value at fault, and the parameter to use instead for
        a header the operator owns.
    """
    if headers is None or headers == "":
        return
    if isinstance(headers, str) and looks_rendered(headers):
        headers = read_back(headers, "headers")
    if not isinstance(headers, Mapping):
        raise InvalidMessageError(f"headers {headers!r} is not a mapping of header names to values.")
    seen: set[str] = set()
    for name, value in headers.items():
        _check_name(name, seen)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InvalidMessageError(f"headers[{name!r}] {value!r} is not text or a number.")
        field = f"headers[{name!r}]"
        with naming_field(field):
            msg[name] = str(value)


def _check_name(name: Any, seen: set[str]) -> None:
    if not isinstance(name, str) or not name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in name):
        raise InvalidMessageError(f"headers has an invalid header name {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidMessageError(f"headers has a header name of {len(name)} characters; at most {MAX_NAME_LENGTH}.")
    if name.lower() in _RESERVED:
        raise InvalidMessageError(
            f"headers sets {name!r}, which the operator sets itself; use its parameter {_RESERVED[name.lower()]}."
        )
    if name.lower() in seen:
        raise InvalidMessageError(f"headers sets {name!r} twice (header names are not case-sensitive).")
    seen.add(name.lower())


def custom_header_lines(headers: Any) -> list[bytes]:
    """The ``headers`` parameter as folded header lines, checked by :func:`add_custom_headers` (on a scratch
    message, so the names refused, the guard and the errors are the same).

    :raises InvalidMessageError: as :func:`add_custom_headers`.
    """
    if headers is None or headers == "":
        return []
    from email.message import EmailMessage

    scratch = EmailMessage(policy=SMTP)
    add_custom_headers(scratch, headers)
    return [folded_line(name, value, SMTP, f"headers[{name!r}]") for name, value in scratch.raw_items()]


def folded_line(name: str, value: Any, policy: Policy, field: str) -> bytes:
    """A header the policy parsed (already guarded), as a folded line: unstructured text that is not plain is
    written as encoded words (see ``encoded_words.py``), anything else by ``policy``.

    :raises InvalidMessageError: naming ``field``, for text that is not valid Unicode.
    """
    if isinstance(value, UnstructuredHeader):
        text = str(value)
        if not (is_plain(text) and "  " not in text and text == text.strip()):  # else spaces would be lost
            return fold_unstructured(name, text, field)
    return policy.fold_binary(name, value)


def is_plain(value: str) -> bool:
    """Whether ``value`` may be written as it is: printable ASCII with no encoded word."""
    return value.isascii() and value.isprintable() and "=?" not in value


def header_line(name: str, value: str) -> bytes:
    """``name: value`` and CRLF, for values this package made itself (a date, a Message-ID)."""
    return f"{name}: {value}\r\n".encode("ascii")


def text_header(name: str, value: str, field: str) -> bytes:
    """A text header (``Subject``): plain values folded at spaces, anything else as RFC 2047 encoded words
    (``encoded_words.py``: the standard library's folder can lose a space there), decoding to exactly ``value``
    (to its decoded text, where ``value`` holds encoded words itself).

    :raises HeaderInjectionError: naming ``field``, for a value that is or decodes to a line break.
    :raises InvalidMessageError: naming ``field``, for a value that is not valid Unicode.
    """
    if is_plain(value) and "  " not in value and value == value.strip():
        folded = _folded(name, value.split(" "), " ") if value else f"{name}: \r\n".encode("ascii")
        if folded is not None:
            return folded
    check_unicode(value, field)  # the parser would turn a lone surrogate into U+FFFD
    with naming_field(field):
        stored_name, header = SMTP.header_store_parse(name, value)  # guarded; encoded words given are decoded
    return folded_line(stored_name, header, SMTP, field)


def fold_plain(name: str, value: str) -> bytes | None:
    """A plain value folded at its spaces (RFC 5322 section 2.2.3), or ``None`` if it cannot be (a run of spaces,
    or a word too long for a line of 998).
    """
    if "  " in value or value != value.strip():
        return None
    return _folded(name, value.split(" "), " ")


def address_header(name: str, texts: list[str], field: str, policy: EmailPolicy = SMTP) -> bytes:
    """An address header from each address's header text (``Name <addr>``), folded between addresses.

    :raises HeaderInjectionError: naming ``field``, for a display name that decodes to a line break.
    """
    if all(is_plain(t) for t in texts):
        folded = _folded(name, texts, ", ")
        if folded is not None:
            return folded
    joined = ", ".join(texts)
    return by_policy(name, joined, field, joined, policy=policy)


def folded_list(name: str, items: list[str]) -> bytes | None:
    """``name: items`` joined by ``, `` and folded between items, each item through the header guard; ``None`` if
    one item would pass 998 characters. For items of printable ASCII (URIs in angle brackets).

    :raises HeaderInjectionError: naming ``name``, for an item that is or decodes to a line break.
    """
    for item in items:
        check_header(name, item)
    return _folded(name, items, ", ")


def by_policy(name: str, value: Any, field: str, shown: str | None = None, *, policy: EmailPolicy = SMTP) -> bytes:
    """``value`` parsed, guarded and folded by ``policy``, as ``msg[name] = value`` and the generator would.

    :raises HeaderInjectionError: naming ``field`` (and ``shown`` as the value, if given).
    """
    with naming_field(field, shown):
        stored_name, header = policy.header_store_parse(name, value)
    return policy.fold_binary(stored_name, header)


def _folded(name: str, words: list[str], separator: str) -> bytes | None:
    """``name: words`` joined by ``separator``, folded before a word where a line would pass 78 characters;
    ``None`` if a single word would pass 998.
    """
    lines, current = [], f"{name}:"
    for index, word in enumerate(words):
        piece = word + (separator.rstrip() if index < len(words) - 1 else "")
        if len(current) + 1 + len(piece) > MAX_LINE and current != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + piece
        if len(current) > MAX_LINE_HARD:
            return None
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
