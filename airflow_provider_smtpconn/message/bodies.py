"""The bodies finished before composing: ``<style>`` rules inlined, and a text part for every HTML body.

Gmail drops ``<style>`` blocks in many views and Outlook on Windows ignores much of them, so an HTML body with a
``<style>`` block has its rules moved into ``style`` attributes (by css-inline, a maintained MIT library; remote
stylesheets are never fetched). A message with ``html`` and no ``text`` gets a plain-text alternative derived
from the HTML (:mod:`.html_text`); a ``text`` given by the author is kept as it is.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError

_STYLE_BLOCK = re.compile(r"<style[\s>]", re.IGNORECASE)


def finish_bodies(text: str | None, html: str | None, *, inline_css: Any = True) -> tuple[str | None, str | None]:
    """``(text, html)`` as they are sent: CSS inlined where the HTML has a ``<style>`` block (unless
    ``inline_css`` is false), and ``text`` derived from the HTML where it is ``None``.

    :param inline_css: ``True``/``False`` (or their text, as a template renders them).
    :raises InvalidMessageError: naming ``inline_css`` for a value that is not true or false, or ``html`` for a
        ``<style>`` block the inliner cannot read.
    """
    if html is None:
        return text, html
    if _flag(inline_css) and has_style_block(html):
        html = inline_styles(html)
    if text is None:
        from airflow_provider_smtpconn.message.html_text import html_to_text

        text = html_to_text(html)
    return text, html


def has_style_block(html: str) -> bool:
    """Whether ``html`` has a ``<style>`` element (even inside a comment, such as Outlook's ``<!--[if mso]>``)."""
    return _STYLE_BLOCK.search(html) is not None


def inline_styles(html: str) -> str:
    """``html`` with the rules of its ``<style>`` blocks moved into ``style`` attributes and the blocks removed
    (``@media`` rules, which cannot be inlined, go with them); ``<link>`` stylesheets are dropped, never fetched.

    :raises InvalidMessageError: naming ``html``, if the CSS cannot be read.
    """
    import css_inline

    try:
        return str(css_inline.CSSInliner(load_remote_stylesheets=False).inline(html))
    except ValueError as exc:  # css_inline.InlineError derives from ValueError
        raise InvalidMessageError(
            f"html has a <style> block whose CSS could not be inlined ({exc}); fix it, or set inline_css=False."
        ) from None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidMessageError(f"inline_css {value!r} is not True or False.")
