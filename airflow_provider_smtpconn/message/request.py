"""What the caller asked for: :class:`EmailRequest`, the message parameters after rendering."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class EmailRequest:
    """The message parameters after rendering; see ``SendEmailOperator`` for each one's accepted forms.

    :param to: Recipients: text separated by ``,`` or ``;``, or a list.
    :param from_email: The sender; ``None`` for the connection's.
    :param attachments: Any form ``message.attachments.normalize_attachments`` accepts.
    :param on_refused: ``fail`` or ``warn`` when some recipients (not all) are refused.
    :param max_attachment_mb: The largest single attachment in MiB; ``None`` for the connection's.
    :param inline_css: Move the rules of an HTML ``<style>`` block into ``style`` attributes (``True``).
    :param list_unsubscribe: An https URL and/or ``mailto:`` URIs for ``List-Unsubscribe`` (RFC 2369, RFC 8058).
    :param dsn: Delivery status notifications: ``notify``, ``ret``, ``envid`` (RFC 3461; ``message/dsn.py``).
    """

    to: Any = None
    cc: Any = None
    bcc: Any = None
    reply_to: Any = None
    from_email: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: Any = None
    importance: str | None = None
    headers: Mapping[str, Any] | None = None
    on_refused: str = "fail"
    max_attachment_mb: float | str | None = None
    inline_css: bool | str = True
    list_unsubscribe: Any = None
    dsn: Any = None

    def with_defaults(self, *, subject: str, text: str) -> EmailRequest:
        """The request with ``subject`` and the plain-text body filled in where not given (no body at all)."""
        return replace(
            self,
            subject=self.subject if self.subject is not None else subject,
            text=text if self.text is None and self.html is None else self.text,
        )
