"""What one connection field is (:class:`ConnectionField`): its key, form widget, default and parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True)
class ConnectionField:
    """One extra field of the connection: what the form shows and how the hook reads it.

    :param key: The key in the connection's extra JSON.
    :param label: The label the form shows (the words the user sees, used in every description).
    :param description: One or two sentences under the field in the form, and the README's text.
    :param schema: The form widget as JSON schema (``type``, ``enum``, ``values_display``, ``format``, ...).
    :param parse: ``(key, raw value) -> value``; ``None`` for "not set". Raises :class:`SmtpConfigError`.
    :param default: The value used when the field is not set; shown by the form and applied by the hook.
    :param setting: The :class:`SmtpSettings` attribute it feeds, or ``None`` for what the hook reads itself.
    :param group: ``oauth2`` for the fields a token source reads (``oauth/sources.py``), ``dkim`` for the DKIM
        signer's (``message/dkim.py``).
    """

    key: str
    label: str
    description: str
    schema: Mapping[str, Any]
    parse: Callable[[str, Any], Any]
    default: Any = None
    setting: str | None = None
    group: str | None = None

    @property
    def is_secret(self) -> bool:
        """Whether the form shows it as a password field (and so it is masked and never shown)."""
        return self.schema.get("format") == "password"

    def read(self, extra: Mapping[str, Any]) -> Any:
        """The parsed value of this field in ``extra``, or its default."""
        value = self.parse(self.key, extra.get(self.key))
        return self.default if value is None else value

    def form_field(self) -> dict[str, Any]:
        """The ``conn-fields`` entry of the provider info."""
        schema = dict(self.schema)
        if self.default is not None:
            schema.setdefault("default", self.default)
        return {"label": self.label, "schema": schema, "description": self.description}


def nullable(kind: str, **schema: Any) -> dict[str, Any]:
    """A JSON schema of ``kind`` that also takes ``null`` (a field left empty), with ``schema``'s keys."""
    return {"type": [kind, "null"], **schema}
