"""The ``list_unsubscribe`` parameter as header lines: ``List-Unsubscribe`` (RFC 2369) and, with an https URL,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), which Gmail and Yahoo require of bulk senders.

RFC 8058 section 3.1: the header holds one https URI, to which a receiver POSTs ``List-Unsubscribe=One-Click``
with no cookies and no redirects to follow; ``mailto:`` URIs may stand beside it. Section 4: both headers must be
covered by a DKIM signature (``message/dkim.py`` signs them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.headers import folded_list, naming_field
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

FIELD = "list_unsubscribe"
ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"


def unsubscribe_lines(value: Any) -> list[bytes]:
    """The header lines for ``value``: an https URL and/or ``mailto:`` URIs, one text or a list (or a list that
    Jinja rendered to text); none for ``None`` or empty.

    :raises InvalidMessageError: naming ``list_unsubscribe`` and the value, for anything but https and mailto
        URIs of printable ASCII, or more than one https URL.
    """
    uris = [_checked(item) for item in _items(value)]
    if not uris:
        return []
    https = [uri for uri in uris if uri.lower().startswith("https:")]
    if len(https) > 1:
        raise InvalidMessageError(
            f"list_unsubscribe has {len(https)} https URLs; RFC 8058 allows one (mailto: URIs may stand beside it)."
        )
    with naming_field(FIELD, str(value)):
        line = folded_list("List-Unsubscribe", [f"<{uri}>" for uri in uris])
    if line is None:
        raise InvalidMessageError(f"list_unsubscribe {value!r} is longer than a header line allows (998 characters).")
    return [line, ONE_CLICK] if https else [line]


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str) and value.lstrip().startswith("[") and looks_rendered(value):
        value = read_back(value, FIELD)
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if item not in (None, "")]
    raise InvalidMessageError(f"list_unsubscribe {value!r} is not a URL, a mailto: address, or a list of them.")


def _checked(item: Any) -> str:
    if not isinstance(item, str):
        raise InvalidMessageError(f"list_unsubscribe has {item!r}, which is not a URL (text).")
    uri = item.strip()
    if not (uri.isascii() and uri.isprintable()) or any(c in uri for c in " <>"):
        raise InvalidMessageError(
            f"list_unsubscribe {item!r} has a space, an angle bracket or a character that is not printable ASCII; "
            "percent-encode it (RFC 3986)."
        )
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "https" and urlsplit(uri).hostname:
        return uri
    if scheme.lower() == "mailto" and "@" in rest.split("?", 1)[0]:
        return uri
    raise InvalidMessageError(
        f"list_unsubscribe {item!r} is not an https:// URL or a mailto: address; one-click unsubscribe "
        "(RFC 8058) needs https."
    )
