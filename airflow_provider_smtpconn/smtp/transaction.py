"""One mail transaction (RFC 5321 §3.3) on an open connection, in three stages: open it (MAIL, RCPT, DATA),
send the body, commit it with the final dot and read the reply. The retry rules around it live in ``stream.py``.

With pipelining (RFC 2920 §3.1) the envelope's commands go in one write and their replies are read in order,
each attributed to its command; the caller may put the previous message's final dot in front of them.

A transaction may carry only some of a message's recipients: a server that takes no more answers the rest
``452`` (RFC 5321 §4.5.3.1.10), and those are :attr:`MailTransaction.postponed` to a further transaction of the
same message (``recipients.py``). DSN parameters (RFC 3461) go on MAIL and RCPT where the server offers DSN.
"""

from __future__ import annotations

import functools
import logging
import smtplib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    InvalidMessageError,
    MessageTooLargeError,
    RecipientsRefusedError,
    SmtpPermanentError,
    SmtpProviderError,
    SmtpTemporaryError,
)
from airflow_provider_smtpconn.smtp.data import DataStream
from airflow_provider_smtpconn.smtp.recipients import recipient_replies
from airflow_provider_smtpconn.smtp.replies import describe, reply_error, reply_text, was_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.replies import ErrorTranslator
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    """What the server said about one message (or, for a dry run, where the message was written).

    :param message_id: The Message-ID header sent, with its angle brackets.
    :param accepted: Recipients the server accepted (RCPT 250/251).
    :param refused: Refused recipients: address -> (reply code, reply text).
    :param size_bytes: The size of the message as sent (or written), in bytes.
    :param eml_path: For a dry run, the ``.eml`` file written instead of sending.
    :param dry_run: Whether nothing was sent.
    """

    message_id: str
    accepted: list[str]
    refused: dict[str, tuple[int, str]]
    size_bytes: int
    eml_path: str | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form, as the operator returns it to XCom (dry runs add ``eml_path``, ``dry_run``)."""
        result: dict[str, Any] = {
            "message_id": self.message_id,
            "accepted": list(self.accepted),
            "refused": {addr: [code, text] for addr, (code, text) in self.refused.items()},
            "size_bytes": self.size_bytes,
        }
        if self.dry_run:
            result.update(eml_path=self.eml_path, dry_run=True)
        return result


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message of a batch (``send_many``): its :class:`SendResult`, or the error that stopped it.

    Every error but :class:`DeliveryUnknownError` means the message was not delivered; ``DeliveryUnknownError``
    means its final dot was sent and no answer came, so it may have been, and it is never resent.

    :param message_id: The Message-ID header, with its angle brackets (empty if the message had none to read).
    :param result: What the server said, when it accepted the message (for some recipients at least).
    :param error: Why it was not sent, or why its outcome is unknown.
    """

    message_id: str
    result: SendResult | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the server accepted the message (for some recipients at least: see ``result.refused``)."""
        return self.error is None

    def raise_for_error(self) -> SendResult:
        """The result, or raise the error."""
        if self.error is not None:
            raise self.error
        assert self.result is not None  # an outcome holds one or the other
        return self.result


class MailTransaction:
    """The stages of sending ``message`` over ``smtp``; errors are translated, and the connection dropped where
    it is no longer usable, through the session's ``translate`` and ``discard``.

    :param pipelined: Write the envelope's commands at once and read their replies in order (RFC 2920).
    :param recipients: The recipients of this transaction; default: all of the message's.
    """

    def __init__(
        self,
        smtp: smtplib.SMTP,
        settings: SmtpSettings,
        message: WireMessage,
        *,
        translate: Callable[[str], ErrorTranslator],
        discard: Callable[[], None],
        pipelined: bool = False,
        recipients: list[str] | None = None,
    ) -> None:
        self.smtp = smtp
        self.settings = settings
        self.message = message
        self.pipelined = pipelined
        self.recipients = message.envelope.recipients if recipients is None else recipients
        self.accepted: list[str] = []
        self.refused: dict[str, tuple[int, str]] = {}
        #: Recipients the server would take no more of (``452``): for a further transaction.
        self.postponed: list[str] = []
        self._translate = translate
        self._discard = discard
        self._lines: list[bytes] = []

    def _mail_options(self) -> list[str]:
        s, size, envelope = self.settings, self.message.size, self.message.envelope
        features = self.smtp.esmtp_features
        limit = int(features.get("size", "0").strip() or 0) if "size" in features else 0
        if limit and size > limit:
            raise MessageTooLargeError(
                f"The message is {size} bytes but {s.address} accepts at most {limit} bytes (SIZE); "
                "make the attachments smaller."
            )
        options = [f"SIZE={size}"] if "size" in features else []
        if envelope.needs_smtputf8:
            if not self.smtp.has_extn("smtputf8"):
                raise SmtpPermanentError(
                    f"{s.address} does not offer SMTPUTF8, which the non-ASCII address in "
                    f"{[a for a in (envelope.sender, *envelope.recipients) if not a.isascii()]} needs."
                )
            options.append("SMTPUTF8")
        if self.message.body_8bit:
            if not (self.smtp.has_extn("8bitmime") or self.smtp.has_extn("smtputf8")):
                raise SmtpPermanentError(
                    f"{s.address} offers neither 8BITMIME nor SMTPUTF8, and {self.message.message_id} holds 8-bit "
                    "data that could not be re-encoded (a nested message), which RFC 6152 forbids sending there."
                )
            options.append("BODY=8BITMIME")
        return options + self._dsn_options()[0]

    def _dsn_options(self) -> tuple[list[str], list[str]]:
        """The DSN parameters of MAIL and of each RCPT, where the message asks for DSN and the server offers it."""
        dsn = self.message.envelope.dsn
        if dsn is None:
            return [], []
        if not self.smtp.has_extn("dsn"):
            _warn_no_dsn(self.settings.address)
            return [], []
        return dsn.mail_options(), dsn.rcpt_options()

    def commands(self) -> list[bytes]:
        """The envelope as it is written: MAIL FROM with its options, RCPT TO per recipient, DATA.

        :raises MessageTooLargeError: if the server's SIZE is smaller than the message.
        :raises SmtpPermanentError: if an address needs SMTPUTF8 and the server does not offer it.
        :raises InvalidMessageError: if an address holds a line break.
        """
        if not self._lines:
            options = self._mail_options()
            envelope = self.message.envelope
            rcpt_options = self._dsn_options()[1]
            texts = [
                " ".join([f"MAIL FROM:{_path(envelope.sender)}", *options]),
                *(" ".join([f"RCPT TO:{_path(rcpt)}", *rcpt_options]) for rcpt in self.recipients),
                "DATA",
            ]
            if any("\r" in text or "\n" in text for text in texts):
                raise InvalidMessageError(f"An envelope address of {self.message.message_id} holds a line break.")
            encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
            self._lines = [f"{text}\r\n".encode(encoding) for text in texts]
        return self._lines

    def open(self, *, final: bool, written: bool = False) -> tuple[list[str], dict[str, tuple[int, str]]]:
        """MAIL FROM, RCPT TO for each recipient, DATA; returns the accepted and the refused recipients.

        Pipelined, the commands go in one write (unless the caller ``written`` them already, after a final dot)
        and every reply is read, in order, even after a refusal, so the session stays in step. Recipients the
        server would take no more of are :attr:`postponed`; when none was accepted but some were decided, the
        transaction ends without a body and ``accepted`` is empty.

        :param final: The last try: recipients deferred (4xx) count as refused instead of failing the try.
        :raises RecipientsRefusedError: if every recipient is refused (the body is never sent).
        :raises SmtpTemporaryError: for a 4xx reply, or deferred recipients before the last try.
        :raises SmtpPermanentError: for a 5xx reply to MAIL or DATA.
        """
        lines = self.commands()
        with self._translate("sending the envelope"):
            if self.pipelined and not written:
                self.smtp.send(b"".join(lines))
            self.accepted, self.refused = self._envelope_replies(lines, final=final)
        return self.accepted, self.refused

    def _envelope_replies(self, lines: list[bytes], *, final: bool) -> tuple[list[str], dict[str, tuple[int, str]]]:
        s, envelope = self.settings, self.message.envelope
        what = f"MAIL FROM {envelope.sender}"
        code, reply = self._ask(lines[0], what)
        if code != 250:
            self._end(lines[1:], accepted=False)
            raise reply_error(what, code, reply, s.address)
        asks = dict(zip(self.recipients, lines[1:-1], strict=True))
        accepted, refused, deferred, self.postponed = recipient_replies(
            self.recipients, lambda rcpt: self._ask(asks[rcpt], f"RCPT TO {rcpt}"), pipelined=self.pipelined
        )
        if deferred and not final:
            self._end(lines[-1:], accepted=bool(accepted))
            first = next(iter(deferred.values()))
            raise SmtpTemporaryError(f"{s.address} deferred {describe(deferred)} (temporary).", *first)
        refused.update(deferred)
        if not accepted:
            self._end(lines[-1:], accepted=False)
            if self.postponed and refused:  # some decided: the others go in the next transaction
                return accepted, refused
            if self.postponed:
                text = "too many recipients"
                raise SmtpTemporaryError(f"{s.address} took no recipient of this transaction: 452 {text}.", 452, text)
            if deferred:
                first = next(iter(deferred.values()))
                raise SmtpTemporaryError(f"{s.address} deferred every recipient: {describe(refused)}.", *first)
            text = f"{s.address} refused every recipient: {describe(refused)}."
            raise RecipientsRefusedError(text, refused, accepted)
        code, reply = self._ask(lines[-1], "DATA")
        if code != 354:
            self._rset()
            raise reply_error("DATA", code, reply, s.address)
        return accepted, refused

    def _ask(self, line: bytes, what: str) -> tuple[int, bytes]:
        """The reply to ``line``: written first in lock-step, already written when pipelined. A 421 (the server
        is closing the connection) is raised at once: no further reply will come.
        """
        if self.smtp.sock is None:  # dropped while an earlier reply of the same write was read
            raise smtplib.SMTPServerDisconnected("the connection was closed")
        if not self.pipelined:
            self.smtp.send(line)
        code, reply = self.smtp.getreply()
        if code == 421:
            raise reply_error(what, code, reply, self.settings.address)
        return code, reply

    def _end(self, unanswered: list[bytes], *, accepted: bool) -> None:
        """End the transaction without a body. Lock-step: RSET. Pipelined: read the replies still due first; a
        354 to DATA gets an empty data section when no recipient was accepted (it reaches no one, RFC 2920 §3.1),
        and otherwise the connection is dropped (without the final dot the server aborts the transaction).
        """
        if not self.pipelined:
            self._rset()
            return
        try:
            for line in unanswered[:-1]:  # RCPT replies after a refused MAIL
                accepted = accepted or self._ask(line, "RCPT TO")[0] in (250, 251)
            code, reply = self._ask(unanswered[-1], "DATA")
            if code == 354 and not accepted:
                self.smtp.send(b".\r\n")
                code, reply = self.smtp.getreply()
                log.debug("%s answered an empty data section: %s %s", self.settings.address, code, reply_text(reply))
                if code == 421:
                    self._discard()
                return
        except (SmtpProviderError, smtplib.SMTPException, OSError):
            self._discard()
            return
        if code == 354:
            self._discard()
        else:
            self._rset()

    def send_body(self) -> bytes:
        """Stream the body, dot-stuffed, without the final ``.`` (returned): until that, nothing is delivered."""
        stream = DataStream(self.smtp.send)
        with self._translate("sending the message body (the server cannot have accepted it)"):
            for chunk in self.message.chunks():
                stream.write(chunk)
            stream.flush()
        return stream.terminator

    def finish(self, terminator: bytes, follow: bytes = b"") -> SendResult:
        """Commit: send the final ``.`` (and ``follow``, the next message's envelope, in the same write) and read
        the reply. A loss from here on is :class:`DeliveryUnknownError`.

        :raises SmtpTemporaryError: for a 4xx reply (not delivered; 421 also drops the connection).
        :raises SmtpPermanentError: for a 5xx reply.
        """
        code, reply = self._final_reply(terminator + follow)
        s = self.settings
        if code != 250:
            if code == 421:
                self._discard()
            raise reply_error("the message", code, reply, s.address)
        if self.refused:
            log.warning("%s accepted %s but refused %s.", s.address, ", ".join(self.accepted), describe(self.refused))
        return SendResult(self.message.message_id, self.accepted, self.refused, self.message.size)

    def _final_reply(self, data: bytes) -> tuple[int, bytes]:
        try:
            self.smtp.send(data)
            return self.smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._discard()
            what = "timed out" if was_timeout(exc) else "was lost"
            raise DeliveryUnknownError(
                f"The connection to {self.settings.address} {what} after the whole message was sent and before "
                f"the server answered: it may or may not have been delivered, so it is not resent. "
                f"Message-ID {self.message.message_id}.",
                self.message.message_id,
            ) from None

    def _rset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._discard()


@functools.lru_cache(maxsize=64)
def _warn_no_dsn(address: str) -> None:
    """Once per server: the messages asked for DSN, which it does not offer."""
    log.warning(
        "%s does not offer DSN (RFC 3461): messages that ask for delivery status notifications (dsn) are sent "
        "without them.",
        address,
    )


def _path(address: str) -> str:
    """An SMTP path (RFC 5321 §4.1.2): a plain addr-spec bracketed as it is, anything else by ``quoteaddr``."""
    if address and not any(c in address for c in '<>()" '):
        return f"<{address}>"
    return smtplib.quoteaddr(address)
