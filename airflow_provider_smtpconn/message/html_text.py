"""A plain-text alternative derived from an HTML body: tables as fixed-width text, links with their URLs,
images by their alt text.

Spam filters score HTML-only mail down and some readers show only text, so a message with ``html`` and no
``text`` gets one made here. The rendering is inscriptis' (Apache-2.0, maintained, lays out tables with their
column alignment); before it, every link to a web or mail address gets its URL after its text, in angle
brackets as RFC 3986 Appendix C suggests for URIs in plain text (``the dashboard <https://...>``), unless the
text already is that address.
"""

from __future__ import annotations

import re
from typing import Any

_WEB_OR_MAIL = ("http://", "https://", "mailto:", "ftp://")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """The text of ``html`` as a reader would see it, ending with one line break (empty HTML gives ``""``)."""
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_engine import Inscriptis
    from inscriptis.model.config import ParserConfig

    tree = _tree(html)
    if tree is None:
        return ""
    _add_link_targets(tree)
    config = ParserConfig(css=CSS_PROFILES["strict"], display_images=True, deduplicate_captions=True)
    text = Inscriptis(tree, config).get_text()
    lines = [line.rstrip() for line in text.splitlines()]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text else ""


def _tree(html: str) -> Any:
    from lxml.etree import ParserError
    from lxml.html import document_fromstring

    html = html.strip()
    if not html:
        return None
    if html.startswith("<?xml "):
        html = html.split("?>", 1)[-1]  # lxml refuses an encoding declaration in a str
    try:
        return document_fromstring(html)
    except ParserError:
        return document_fromstring("<pre>" + html + "</pre>")


def _add_link_targets(tree: Any) -> None:
    for link in tree.iter("a"):
        href = (link.get("href") or "").strip()
        if not href.lower().startswith(_WEB_OR_MAIL):
            continue  # anchors within the page and other schemes mean nothing in text
        shown = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
        text = " ".join(link.text_content().split())
        if text in (href, shown) or not text:
            if not text:
                link.text = shown
            continue
        link.tail = f" <{shown}>" + (link.tail or "")
