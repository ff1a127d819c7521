"""A message's recipients across the mail transactions it takes, when one transaction cannot carry them all.

Relays cap the recipients of one transaction (Google Workspace 100, Amazon SES 50, Microsoft 365 500). With the
connection's ``max_recipients_per_message`` the recipients go in parts of that size from the start; without it,
all at once, and where the server answers ``452`` (too many recipients) the rest go in a further transaction of the
same message, on the same session, with the same bytes and Message-ID (RFC 5321 §4.5.3.1.10 lets a client do
so). Bcc recipients are envelope recipients only: no part's bytes name them.

:class:`RecipientParts` keeps the account: what is still to send, and every recipient accepted or refused, so the
message's one :class:`~.transaction.SendResult` lists them all and none is dropped silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smtpconn.exceptions import RecipientsRefusedError
from airflow_provider_smtpconn.smtp.replies import describe, reply_text, too_many_recipients

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.transaction import SendResult


class RecipientParts:
    """The recipients of one message, sent in one or more transactions.

    :param recipients: Every envelope recipient (Bcc included), in order.
    :param limit: The most recipients in one transaction; ``None`` for no limit of our own.
    """

    def __init__(self, recipients: list[str], limit: int | None = None) -> None:
        self.pending = list(recipients)
        self.limit = limit
        self.current: list[str] = []
        self.accepted: list[str] = []
        self.refused: dict[str, tuple[int, str]] = {}
        self.committed = 0  # transactions whose final dot the server accepted

    def next_part(self) -> list[str]:
        """The recipients of the next transaction (those of a part tried again come first)."""
        size = len(self.pending) if self.limit is None else self.limit
        self.current, self.pending = self.pending[:size], self.pending[size:]
        return self.current

    @property
    def split(self) -> bool:
        """Whether the message takes more than one transaction: others are to come, or have been."""
        return bool(self.pending or self.accepted or self.refused or self.committed)

    def postpone(self, recipients: list[str]) -> None:
        """``recipients`` of the current part, which the server would not take: first in the next part."""
        self.pending[:0] = recipients
        postponed = set(recipients)
        self.current = [r for r in self.current if r not in postponed]

    def again(self) -> None:
        """The current part is tried again (after a temporary failure): its recipients go back first."""
        self.pending[:0] = self.current
        self.current = []

    def done(self, accepted: list[str], refused: dict[str, tuple[int, str]], *, committed: bool) -> None:
        """The current part ended: ``accepted`` have the message (its final dot answered 250), ``refused`` not."""
        self.accepted.extend(accepted)
        self.refused.update(refused)
        self.committed += committed
        self.current = []

    def refuse(self, code: int, text: str, *, rest: bool = False) -> None:
        """The current part (and, with ``rest``, every pending recipient) failed with ``code`` ``text``."""
        for rcpt in self.current + (self.pending if rest else []):
            self.refused[rcpt] = (code, text)
        self.current = []
        if rest:
            self.pending = []

    def result(self, message: WireMessage, address: str) -> SendResult:
        """The message's one result, every recipient in it.

        :raises RecipientsRefusedError: if no part was accepted.
        """
        from airflow_provider_smtpconn.smtp.transaction import SendResult

        if not self.accepted:
            raise RecipientsRefusedError(
                f"{address} refused every recipient: {describe(self.refused)}.", self.refused, []
            )
        return SendResult(message.message_id, self.accepted, self.refused, message.size)


def recipient_replies(
    recipients: list[str], ask: Callable[[str], tuple[int, bytes]], *, pipelined: bool
) -> tuple[list[str], dict[str, tuple[int, str]], dict[str, tuple[int, str]], list[str]]:
    """Read the RCPT replies (``ask(rcpt)`` gives one): the accepted, refused (5xx) and deferred (4xx) recipients,
    and those past the server's limit (postponed). In lock-step, once the server has said it takes no more, the
    rest are postponed without asking; pipelined, every reply is read, as every command was written.
    """
    accepted: list[str] = []
    refused: dict[str, tuple[int, str]] = {}
    deferred: dict[str, tuple[int, str]] = {}
    postponed: list[str] = []
    for rcpt in recipients:
        if postponed and not pipelined:
            postponed.append(rcpt)
            continue
        code, reply = ask(rcpt)
        if too_many_recipients(code, reply):
            postponed.append(rcpt)
        elif code in (250, 251):
            accepted.append(rcpt)
        else:
            (deferred if 400 <= code < 500 else refused)[rcpt] = (code, reply_text(reply))
    return accepted, refused, deferred, postponed
