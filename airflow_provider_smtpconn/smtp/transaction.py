"""One mail transaction (RFC 5321 §3.3) on an open connection, in three stages: open it (MAIL, RCPT, DATA),
send the body, read the final reply. The retry rules around it live in ``session.py``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    MessageTooLargeError,
    RecipientsRefusedError,
    SmtpPermanentError,
    SmtpTemporaryError,
)
from airflow_provider_smtpconn.smtp.data import DataStream
from airflow_provider_smtpconn.smtp.replies import describe, reply_error, reply_text, was_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.replies import ErrorTranslator
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings


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


class MailTransaction:
    """The stages of sending ``message`` over ``smtp``; errors are translated, and the connection dropped where
    it is no longer usable, through the session's ``translate`` and ``discard``.
    """

    def __init__(
        self,
        smtp: smtplib.SMTP,
        settings: SmtpSettings,
        message: WireMessage,
        *,
        translate: Callable[[str], ErrorTranslator],
        discard: Callable[[], None],
    ) -> None:
        self.smtp = smtp
        self.settings = settings
        self.message = message
        self._translate = translate
        self._discard = discard

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
        if self.message.body_8bit and self.smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def open(self, *, final: bool) -> tuple[list[str], dict[str, tuple[int, str]]]:
        """MAIL FROM, RCPT TO for each recipient, DATA; returns the accepted and the refused recipients."""
        s, envelope = self.settings, self.message.envelope
        options = self._mail_options()
        with self._translate("sending the envelope"):
            code, reply = self.smtp.mail(envelope.sender, options)
            if code != 250:
                self._rset()
                raise reply_error(f"MAIL FROM {envelope.sender}", code, reply, s.address)
            accepted, refused, deferred = self._recipients()
            if deferred and not final:
                self._rset()
                first = next(iter(deferred.values()))
                raise SmtpTemporaryError(f"{s.address} deferred {describe(deferred)} (temporary).", *first)
            refused.update(deferred)
            if not accepted:
                self._rset()
                if deferred:
                    first = next(iter(deferred.values()))
                    raise SmtpTemporaryError(f"{s.address} deferred every recipient: {describe(refused)}.", *first)
                raise RecipientsRefusedError(
                    f"{s.address} refused every recipient: {describe(refused)}.", refused, accepted
                )
            code, reply = self.smtp.docmd("DATA")
            if code != 354:
                self._rset()
                raise reply_error("DATA", code, reply, s.address)
        return accepted, refused

    def _recipients(
        self,
    ) -> tuple[list[str], dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        deferred: dict[str, tuple[int, str]] = {}
        for rcpt in self.message.envelope.recipients:
            code, reply = self.smtp.rcpt(rcpt)
            if code == 421:
                raise reply_error(f"RCPT TO {rcpt}", code, reply, self.settings.address)
            if code in (250, 251):
                accepted.append(rcpt)
            else:
                (deferred if 400 <= code < 500 else refused)[rcpt] = (code, reply_text(reply))
        return accepted, refused, deferred

    def send_body(self) -> bytes:
        """Stream the body, dot-stuffed, without the final ``.`` (returned): until that, nothing is delivered."""
        stream = DataStream(self.smtp.send)
        with self._translate("sending the message body (the server cannot have accepted it)"):
            for chunk in self.message.chunks():
                stream.write(chunk)
            stream.flush()
        return stream.terminator

    def final_reply(self, terminator: bytes) -> tuple[int, bytes]:
        """Send the final ``.`` and read the reply; a loss from here on is :class:`DeliveryUnknownError`."""
        try:
            self.smtp.send(terminator)
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
