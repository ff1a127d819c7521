"""A short notification as a card of facts: a headline, label-value rows, as email-safe HTML and as plain text.

The HTML is a single-column ``<table>`` layout with inline styles and the attributes Outlook reads (``bgcolor``,
``width``, ``valign``), 600 pixels wide at most: what Outlook on Windows, Gmail and Apple Mail all lay out
the same way. The text is one ``Label: value`` line per fact under the headline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

#: Headline colours, by tone (GitHub's Primer palette: white text on them meets WCAG AA contrast).
TONES = {"failed": "#cf222e", "retry": "#9a6700", "success": "#1a7f37", "late": "#9a6700", "neutral": "#424a53"}

_FONT = "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:20px;color:#1f2328"
_MONO = "font-family:Consolas,Menlo,'Courier New',monospace;font-size:13px"
_RULE = "border-bottom:1px solid #d0d7de"


@dataclass(frozen=True)
class Fact:
    """One row: ``label`` and ``value`` (text); ``url`` makes the value a link; ``code`` sets it in monospace."""

    label: str
    value: str
    url: str | None = None
    code: bool = False


@dataclass(frozen=True)
class FactCard:
    """A headline and its facts; :meth:`html` and :meth:`text` render the same content."""

    headline: str
    facts: list[Fact] = field(default_factory=list)
    tone: str = "neutral"

    def text(self) -> str:
        """The headline, a blank line, and ``Label: value`` per fact (a link's URL as its value)."""
        lines = [self.headline, ""]
        lines += [f"{fact.label}: {fact.url if fact.url else fact.value}" for fact in self.facts]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """The card as an HTML document with inline styles only."""
        colour = TONES.get(self.tone, TONES["neutral"])
        rows = "".join(_row(fact) for fact in self.facts)
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body style="margin:0;padding:16px;background-color:#ffffff;{_FONT}">'
            f'<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
            f'style="width:100%;max-width:600px;border-collapse:collapse;border:1px solid #d0d7de;{_FONT}">'
            f'<tr><td bgcolor="{colour}" style="padding:12px 16px;background-color:{colour};color:#ffffff;'
            f'font-size:16px;line-height:22px;font-weight:bold">{escape(self.headline)}</td></tr>'
            '<tr><td style="padding:0">'
            f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
            f'style="width:100%;border-collapse:collapse;{_FONT}">{rows}</table>'
            "</td></tr></table></body></html>"
        )


def _row(fact: Fact) -> str:
    value = escape(fact.value)
    if fact.code:
        value = f'<span style="{_MONO}">{value}</span>'
    if fact.url:
        value = f'<a href="{escape(fact.url)}" style="color:#0969da;text-decoration:underline">{value}</a>'
    return (
        f'<tr><td valign="top" width="110" style="padding:8px 16px;{_RULE};color:#57606a;font-weight:bold;'
        f'white-space:nowrap;vertical-align:top">{escape(fact.label)}</td>'
        f'<td valign="top" style="padding:8px 16px;{_RULE};vertical-align:top;word-break:break-word">{value}</td></tr>'
    )
