"""Addresses as the parameters give them (text separated by ``,`` or ``;``, or lists), parsed and checked.

:func:`parse_addresses` is the full parser (the standard library's ``email.headerregistry``, strict: every
invalid address is named in one error). :func:`header_addresses` is what the composer calls: plain addresses
(``local@domain.tld``, an ASCII display name) are recognised by pattern, which is most of the cost of composing
a small message saved, and anything else goes to the full parser, so the two give the same result.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.headers import HEADERS
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

if TYPE_CHECKING:
    from collections.abc import Iterable
    from email.headerregistry import Address

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+"
_PLAIN = re.compile(_ADDR)
_LABEL_ONLY = re.compile(_LABEL)
_NAMED = re.compile(rf'(?:"([A-Za-z0-9 !#$%&\'*+/=?^_`{{|}}~.,:;@()\[\]<>-]*)"|([A-Za-z0-9 \'-]*?)) *<({_ADDR})>')
_SPECIALS = frozenset('()<>@,:;."[]')


def parse_addresses(value: Any, field_name: str) -> list[Address]:
    """Parse ``value`` (text separated by ``,`` or ``;``, or a list of such) into unique addresses.

    ``"Doe, Jane" <jane@example.org>`` stays one address; empty entries are dropped; a list Jinja rendered to
    text is read back.

    :raises InvalidMessageError: naming ``field_name`` and every invalid address in one sentence.
    """
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("[") and looks_rendered(value):
        value = read_back(value, field_name)
    if isinstance(value, str):
        pieces = _split(value)
    elif isinstance(value, (list, tuple, set)):
        pieces = []
        for item in value:
            if item is None:
                continue
            if not isinstance(item, str):
                raise InvalidMessageError(f"{field_name} has {item!r}, which is not an address (text).")
            pieces.extend(_split(item))
    else:
        raise InvalidMessageError(f"{field_name} {value!r} is not an address, a list of addresses, or text.")
    addresses: list[Address] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        try:
            address = _parse_one(piece)
        except ValueError:
            invalid.append(piece)
            continue
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            addresses.append(address)
    if invalid:
        raise InvalidMessageError(f"{field_name} has invalid address{'es' if len(invalid) > 1 else ''}: {invalid}.")
    return addresses


def header_addresses(value: Any, field_name: str) -> list[tuple[str, str]]:
    """``(addr_spec, header text)`` per unique address of ``value``, as :func:`parse_addresses` finds them.

    :raises InvalidMessageError: as :func:`parse_addresses`.
    """
    pieces = _plain_pieces(value)
    if pieces is None:
        return [(a.addr_spec, str(a)) for a in parse_addresses(value, field_name)]
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for piece in pieces:
        parsed = _plain(piece)
        if parsed is None:  # anything unusual: the full parser decides, and names every invalid address
            return [(a.addr_spec, str(a)) for a in parse_addresses(value, field_name)]
        if parsed[0].lower() not in seen:
            seen.add(parsed[0].lower())
            found.append(parsed)
    return found


def recipients_of(values: Iterable[Any]) -> list[str]:
    """All addresses of several to/cc/bcc values, without duplicates (for summaries and dry runs)."""
    seen: dict[str, None] = {}
    for value in values:
        for address in parse_addresses(value, "recipients"):
            seen.setdefault(address.addr_spec, None)
    return list(seen)


def within_limits(local: str, domain: str) -> bool:
    """RFC 5321 section 4.5.3.1: a local part of at most 64 octets, a domain of at most 255, labels of at most 63."""
    labels = domain.strip("[]").split(".")
    return len(local.encode()) <= 64 and len(domain.encode()) <= 255 and all(len(x.encode()) <= 63 for x in labels)


def ascii_domain(domain: str) -> str | None:
    """``domain`` in lower-case ASCII, non-ASCII labels as IDNA A-labels (RFC 5890); an address literal such as
    ``[192.0.2.1]`` as it is; ``None`` if it is not a domain name (RFC 1035 section 2.3.1 labels, 253 octets).
    """
    domain = domain.strip().rstrip(".")
    if domain.startswith("[") and domain.endswith("]"):
        inner = domain[1:-1]
        return domain if inner and inner.isascii() and inner.isprintable() and " " not in inner else None
    try:
        converted = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(converted) > 253 or not all(_LABEL_ONLY.fullmatch(label) for label in converted.split(".")):
        return None
    return converted.lower()


def _split(text: str) -> list[str]:
    """Split on ``,`` and ``;`` outside quotes, angle brackets and comments."""
    if "\r" in text or "\n" in text:
        return [text]  # rejected by _parse_one with the whole value shown
    pieces: list[str] = []
    current: list[str] = []
    quoted, depth, angle = False, 0, False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")" and depth:
            depth -= 1
        elif not quoted and char in "<>":
            angle = char == "<"
        elif not quoted and not depth and not angle and char in ",;":
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def _parse_one(text: str) -> Address:
    if any(c in text for c in "\r\n\0"):
        raise ValueError(text)
    from email import errors

    try:
        header = HEADERS("to", text)
    except (IndexError, errors.HeaderParseError):  # the parser fails on some malformed input, e.g. "a@"
        raise ValueError(text) from None
    groups = header.groups  # type: ignore[attr-defined]
    # A non-ASCII local part is valid with SMTPUTF8 (RFC 6531); the transport checks the server offers it.
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(groups) != 1 or groups[0].display_name or len(groups[0].addresses) != 1:
        raise ValueError(text)
    address: Address = groups[0].addresses[0]
    local, _, domain = address.addr_spec.rpartition("@")
    if (not local or not domain or "." not in domain.strip(".")) and domain.lower() != "localhost":
        raise ValueError(text)
    quoted = len(local) > 1 and local.startswith('"') and local.endswith('"')
    if any(c.isspace() for c in domain) or (not quoted and any(c.isspace() for c in local)):
        raise ValueError(text)
    if ".." in domain or domain.startswith((".", "-")) or not within_limits(local, domain):
        raise ValueError(text)
    return address


def _plain_pieces(value: Any) -> list[str] | None:
    """The pieces of ``value`` if it can take the short way (no quotes, which may hold separators), else ``None``."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = (value,)
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    pieces: list[str] = []
    for item in items:
        if item is None:
            continue
        if not isinstance(item, str) or '"' in item:
            return None
        pieces.extend(p.strip() for p in item.replace(";", ",").split(",") if p.strip())
    return pieces


def _plain(text: str) -> tuple[str, str] | None:
    if _PLAIN.fullmatch(text):
        addr, name = text, ""
    else:
        named = _NAMED.fullmatch(text)
        if named is None:
            return None
        name = " ".join((named.group(1) if named.group(1) is not None else named.group(2)).split())
        addr = named.group(3)
    local, _, domain = addr.rpartition("@")
    if not within_limits(local, domain):
        return None
    if not name:
        return addr, addr
    if not _SPECIALS.isdisjoint(name):
        name = '"' + name + '"'
    return addr, f"{name} <{addr}>"
