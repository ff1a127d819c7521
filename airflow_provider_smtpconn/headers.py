"""The one header guard, and the ``email`` policy every message of this package is built with.

The standard library's header parser decodes RFC 2047 encoded words in the values it is given, and RFC 2231
parameters in structured headers; a value such as ``=?utf-8?q?=0A?=Bcc: x@example.net`` decodes to a line
break that the generator then writes out as a real one, a second header. :class:`GuardedPolicy` checks every
header as it is stored (``msg[name] = value``, ``set_param``, ``set_content``: all go through
``header_store_parse``): the value as given, the value as decoded, and every decoded parameter must be free of
CR, LF and NUL. There is no other way into a message's headers.
"""

from __future__ import annotations

from email.headerregistry import HeaderRegistry
from email.policy import EmailPolicy
from typing import Any

from airflow_provider_smtpconn.exceptions import HeaderInjectionError

_FORBIDDEN = ("\r", "\n", "\0")


class _CachedHeaderRegistry(HeaderRegistry):
    """A ``HeaderRegistry`` that makes each header class once; the standard one builds a new class (``type()``)
    for every header it parses, which is much of the cost of composing a small message."""

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
    return any(c in text for c in _FORBIDDEN)


def check_header(name: str, value: Any, parsed: Any = None) -> None:
    """Refuse a header value that is, or decodes to, text with CR, LF or NUL.

    :param name: The header's name, for the error.
    :param value: The value as given.
    :param parsed: The header object the policy parsed from it: its decoded text and parameters are checked.
    :raises HeaderInjectionError: naming the header and the value as given.
    """
    if isinstance(value, str) and _unsafe(value):
        raise HeaderInjectionError(name, value, "contains a line break or NUL")
    if parsed is None:
        return
    decoded = [str(parsed), *getattr(parsed, "params", {}).values()]
    if any(isinstance(text, str) and _unsafe(text) for text in decoded):
        raise HeaderInjectionError(name, str(value), "decodes to a line break or NUL")


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
        return stored


HEADERS = _CachedHeaderRegistry()
#: The policy of every message this package composes.
SMTP = GuardedPolicy(linesep="\r\n", header_factory=HEADERS)
