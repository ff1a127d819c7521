"""The report helpers of message templates: the ``email_table`` filter, the ``inline_image(...)`` global, and the
parts they add to the message being rendered.

:func:`template_environments` makes two Jinja environments over the caller's (Airflow's, with the DAG's macros,
filters and template search path), both with the two helpers bound to one :class:`TemplateParts`:

* the one for ``html`` writes every value that declares its HTML (``__html__``: a table, an image, ``Markup``)
  as that HTML, so ``{{ rows | email_table }}`` is a ``<table>`` and ``{{ inline_image(chart) }}`` an ``<img>``;
* the one for every other field writes them as text: the table in fixed width, the image as ``[alt text]``.

A :class:`TemplateParts` belongs to one message: the shells make one per render (one per row in a mail merge)
and pass its :attr:`~TemplateParts.attachments` on with the message's own. Nothing here knows Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.message.inline_images import InlineImage, inline_image
from airflow_provider_smtpconn.message.tables import EmailTable, email_table

if TYPE_CHECKING:
    from collections.abc import Callable

    import jinja2

#: The names templates use.
TABLE_FILTER = "email_table"
IMAGE_GLOBAL = "inline_image"


class TemplateParts:
    """The parts templates add to one message: each table's CSV file and each image written into the HTML, once
    each (by file name, and by Content-ID for images), in the order they were added.
    """

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, Any]] = {}

    def email_table(self, rows: Any, **options: Any) -> EmailTable:
        """:func:`~.tables.email_table`, keeping the table's CSV attachment (if ``csv`` was given)."""
        table = email_table(rows, **options)
        if table.attachment is not None:
            self.add(table.attachment)
        return table

    def inline_image(self, value: Any, alt: str = "", **options: Any) -> InlineImage:
        """:func:`~.inline_images.inline_image`; the image becomes a part once its ``<img>`` is in the HTML."""
        return inline_image(value, alt, on_use=self.add, **options)

    def add(self, spec: dict[str, Any]) -> None:
        """Keep an attachment spec; a second one with the same Content-ID or file name is the same part."""
        self._parts.setdefault(str(spec.get("content_id") or spec["filename"]), spec)

    @property
    def attachments(self) -> list[dict[str, Any]]:
        """The attachment specs added so far."""
        return list(self._parts.values())

    def clear(self) -> None:
        """Forget every part (before rendering the next message)."""
        self._parts.clear()


def template_environments(
    env: jinja2.Environment, parts: TemplateParts
) -> tuple[jinja2.Environment, jinja2.Environment]:
    """``(text_env, html_env)``: overlays of ``env`` with the helpers bound to ``parts``; ``env`` is unchanged.

    ``html_env`` writes values with ``__html__`` as their HTML, then applies ``env``'s own ``finalize``, if any.
    """
    text_env = env.overlay()
    text_env.filters = {**env.filters, TABLE_FILTER: parts.email_table}
    text_env.globals = {**env.globals, IMAGE_GLOBAL: parts.inline_image}
    html_env = text_env.overlay(finalize=_html_first(env.finalize))
    return text_env, html_env


def _html_first(inner: Callable[..., Any] | None) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        as_html = getattr(value, "__html__", None)
        if as_html is not None:
            value = as_html()
        return value if inner is None else inner(value)

    return finalize


def with_parts(attachments: Any, parts: list[dict[str, Any]]) -> Any:
    """``attachments`` (any form ``attachments.normalize_attachments`` accepts) followed by ``parts``."""
    if not parts:
        return attachments
    if attachments is None or (isinstance(attachments, (str, list, tuple, dict)) and not attachments):
        return list(parts)
    return [attachments, *parts]
