"""Messages over one SMTP session, in order, each under the retry rules, pipelined where the server allows it.

The retry rules live here, once, for one message (``SmtpSession.send``) and for many (``send_many``, a merge):

* until a message's final ``.`` has been handed to the socket, nothing can have been delivered, so a lost
  connection, a timeout or a 4xx reply is retried with exponential backoff, up to ``retry_limit`` times (on a
  fresh connection after a loss or a 4xx to the envelope); on the last try, recipients the server defers count
  as refused instead;
* a 5xx reply, an authentication failure, a TLS failure and a server that never greets are not retried;
* once the final ``.`` is out, a lost connection or a timeout leaves the outcome unknown: it is
  :class:`DeliveryUnknownError` and never retried, so a message is sent at most once.

Pipelining (RFC 2920), when the server offers PIPELINING and the connection's ``pipelining`` is not ``off``: a
message's MAIL, RCPT and DATA go in one write, and the next message's go in the same write as the previous
message's final ``.``, so a steady stream costs one round trip per message. The final ``.`` stays each message's
commit point: ``on_commit`` runs right before it is written, and when the connection is lost with replies
outstanding, a message whose dot was written is unknown (never resent), while one whose dot was not was not
delivered and is tried again on a new connection, within its own retries. A message whose recipients take more
than one transaction (``recipients.py``) commits part by part, each part's final dot its own commit point; a part
that fails is tried again alone, and the message's one outcome names every recipient.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    RecipientsRefusedError,
    SmtpProviderError,
    SmtpTemporaryError,
)
from airflow_provider_smtpconn.smtp.recipients import RecipientParts
from airflow_provider_smtpconn.smtp.transaction import MailTransaction, SendOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.session import SmtpSession
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings

log = logging.getLogger(__name__)

#: Where a try failed: opening the session (connect, TLS, AUTH), the envelope or body, or the final reply.
CONNECT, ENVELOPE, COMMIT = "connect", "envelope", "commit"


class RetryRules:
    """How many tries a message gets and how long to wait between them, as tenacity's stop and wait strategies:
    ``retry_limit`` retries, waits doubling from ``retry_wait`` up to ``retry_wait_max`` seconds.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.limit = settings.retry_limit
        self._policy = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.limit + 1),
            wait=tenacity.wait_exponential(multiplier=settings.retry_wait, max=settings.retry_wait_max),
        )

    def first_try(self) -> tenacity.RetryCallState:
        """A message's tries, at the first."""
        return tenacity.RetryCallState(self._policy, None, (), {})

    def is_last(self, tries: tenacity.RetryCallState) -> bool:
        """Whether the current try is the last one."""
        return tries.attempt_number > self.limit

    def wait_before_next(self, tries: tenacity.RetryCallState, exc: Exception) -> float | None:
        """After the current try failed with ``exc``: the seconds to wait before the next (the tries move on), or
        ``None`` when there is none: ``exc`` is not transient, or the tries are used up (``exc`` then says so).
        """
        if not (isinstance(exc, SmtpProviderError) and exc.transient):
            return None
        if self._policy.stop(tries):
            if self.limit:
                exc.args = (f"{exc.args[0]} Gave up after {self.limit + 1} attempts.", *exc.args[1:])
            return None
        wait = float(self._policy.wait(tries))
        log.warning("SMTP attempt %d failed: %s Retrying in %.1f s.", tries.attempt_number, exc, wait)
        tries.prepare_for_next_attempt()
        return wait


@dataclass(eq=False)
class _Entry:
    message: WireMessage
    tag: Any
    tries: tenacity.RetryCallState
    parts: RecipientParts  # the recipients still to send, and every one decided so far
    not_before: float = 0.0  # time.monotonic() before which the next try may not start (the backoff)
    transaction: MailTransaction | None = None
    terminator: bytes = b""


class MessageStream:
    """Messages sent in order over one :class:`~airflow_provider_smtpconn.smtp.session.SmtpSession`.

    :meth:`submit` takes a message as far as its final dot and holds the dot back, so that when pipelining it
    goes out in one write with the next message's envelope; :meth:`flush` sends what is held back. Flush before
    waiting for anything (the next message, a rate limit): a message whose dot is held back is not delivered.
    Use it as a context manager: leaving it with messages undecided drops them (see :meth:`abandon`).

    :param on_outcome: ``on_outcome(tag, SendOutcome)``, once per message when its outcome is known: accepted, or
        an error of its own (recipients refused, rejected, deferred past its retries, delivery unknown).
    :param on_commit: ``on_commit(tag)``, right before the message's final dot is written (again for a try after
        a 4xx reply to the dot). An exception from it drops the connection, so that message is not delivered,
        and is raised.
    :param sleep: Waits the backoff, in seconds.

    A failure of the session itself (it cannot connect, authenticate or keep a connection within the retries,
    or the server keeps closing with 421) is raised from :meth:`submit` or :meth:`flush`; the messages not yet
    decided are then :meth:`abandon`'s.
    """

    def __init__(
        self,
        session: SmtpSession,
        *,
        on_outcome: Callable[[Any, SendOutcome], object],
        on_commit: Callable[[Any], object] | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.session = session
        self.rules = RetryRules(session.settings)
        self._on_outcome = on_outcome
        self._on_commit = on_commit
        self._sleep = sleep
        self._queue: deque[_Entry] = deque()  # to be tried, oldest first
        self._current: _Entry | None = None  # being tried
        self._held: _Entry | None = None  # body sent, final dot held back
        self._decided: list[tuple[Any, SendOutcome]] = []

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abandon()

    def submit(self, message: WireMessage, tag: Any = None) -> None:
        """Send ``message`` up to its final dot (after the messages before it), holding the dot back."""
        parts = RecipientParts(message.envelope.recipients, self.session.settings.max_recipients_per_message)
        self._queue.append(_Entry(message, tag, self.rules.first_try(), parts))
        self._pump(hold=True)

    def flush(self) -> None:
        """Send every message submitted to the end and read every reply: each outcome is known after this."""
        self._pump(hold=False)

    def abandon(self) -> list[Any]:
        """Give up the messages not decided (after an exception), dropping the connection if one is part-way
        through a transaction; returns their tags, in order. None of them was delivered.
        """
        entries = [e for e in (self._held, self._current) if e is not None]
        if entries:
            self.session.discard()  # without the final dot the server aborts the transaction
        entries.extend(self._queue)
        self._held = self._current = None
        self._queue.clear()
        return [e.tag for e in entries]

    # -- the steps ----------------------------------------------------------------------------------------------

    def _pump(self, *, hold: bool) -> None:
        try:
            while self._queue or (self._held is not None and not hold):
                if not self._queue and self._held is not None:
                    self._finish(self._held)  # may queue it again, after a 4xx to its dot
                    continue
                entry = self._queue[0]
                due = entry.not_before - time.monotonic()
                if self._held is not None and (due > 0 or not self._may_follow()):
                    self._finish(self._held)
                    continue
                if due > 0:
                    self._sleep(due)
                self._current = self._queue.popleft()
                self._step(entry)
                self._current = None
        finally:
            self._deliver()

    def _may_follow(self) -> bool:
        """Whether the next envelope may go with the held dot: pipelining, and no token to renew first."""
        try:
            return self.session.pipelining and not self.session.token_stale()
        except SmtpProviderError:  # the token source failed: the next try meets it again, under the retry rules
            return False

    def _step(self, entry: _Entry) -> None:
        session = self.session
        if self._held is None:
            try:
                session.renew_stale_token()
                session.connect()
            except SmtpProviderError as exc:
                self._failed(entry, exc, CONNECT)
                return
        try:
            transaction = MailTransaction(
                session.connect(),
                session.settings,
                entry.message,
                translate=session.translate_errors,
                discard=session.discard,
                pipelined=session.pipelining,
                recipients=entry.parts.next_part(),
            )
            envelope = transaction.commands()
        except SmtpProviderError as exc:
            self._failed(entry, exc, ENVELOPE)
            return
        written = self._held is not None  # pipelining, as _pump checked: the envelope goes with the held dot
        if self._held is not None:
            self._finish(self._held, follow=b"".join(envelope))
        try:
            transaction.open(final=self.rules.is_last(entry.tries), written=written)
            entry.parts.postpone(transaction.postponed)
            if transaction.accepted:
                entry.terminator = transaction.send_body()
        except SmtpProviderError as exc:
            self._failed(entry, exc, ENVELOPE)
            return
        entry.transaction = transaction
        if not transaction.accepted:  # every recipient of this part refused, and others are postponed
            entry.parts.done([], transaction.refused, committed=False)
            self._continue(entry)
        elif entry.parts.pending:  # further parts of this message follow: this one is committed first
            self._finish(entry)
        else:
            self._held = entry

    def _finish(self, held: _Entry, follow: bytes = b"") -> None:
        """Commit the held message (or part): ``on_commit``, then its final dot (with ``follow``) and its reply."""
        if self._on_commit is not None:
            try:
                self._on_commit(held.tag)
            except BaseException:
                self.session.discard()  # no final dot was sent: the server drops the transaction
                raise
        self._held = None
        assert held.transaction is not None  # held only once its body is sent
        try:
            result = held.transaction.finish(held.terminator, follow)
        except SmtpProviderError as exc:
            self._failed(held, exc, COMMIT)
            return
        held.parts.done(result.accepted, result.refused, committed=True)
        self._continue(held)

    def _continue(self, entry: _Entry) -> None:
        """Send the next part of ``entry`` next, or decide it once every recipient is accepted or refused."""
        if entry.parts.pending:
            self._queue.appendleft(entry)
            return
        try:
            result = entry.parts.result(entry.message, self.session.settings.address)
        except RecipientsRefusedError as exc:
            self._decided.append((entry.tag, SendOutcome(entry.message.message_id, error=exc)))
            return
        self._decided.append((entry.tag, SendOutcome(result.message_id, result=result)))

    def _failed(self, entry: _Entry, exc: SmtpProviderError, stage: str) -> None:
        """Try ``entry`` (its current part) again after its backoff, or decide it (or the part) with ``exc``, or
        raise ``exc`` for the session.
        """
        if self._current is entry:
            self._current = None
        wait = self.rules.wait_before_next(entry.tries, exc)
        if wait is not None:
            entry.parts.again()
            entry.not_before = time.monotonic() + wait
            self._queue.appendleft(entry)
            return
        own = isinstance(exc, SmtpTemporaryError) and exc.code != 421  # a 4xx about this message
        session_failure = stage == CONNECT or (stage == ENVELOPE and exc.transient and not own)
        parts = entry.parts
        if parts.split and not isinstance(exc, DeliveryUnknownError) and (parts.committed or not session_failure):
            # Other parts were or will be sent: this part's recipients are refused, the message goes on.
            if isinstance(exc, RecipientsRefusedError):
                parts.done([], exc.refused, committed=False)
            else:
                parts.refuse(getattr(exc, "code", None) or 0, f"not sent: {exc}", rest=session_failure)
            self._continue(entry)  # decided: the next message meets the session's failure on its own
            return
        if session_failure:
            parts.again()
            self._queue.appendleft(entry)
            raise exc
        self._decided.append((entry.tag, SendOutcome(entry.message.message_id, error=exc)))

    def _deliver(self) -> None:
        while self._decided:
            tag, outcome = self._decided.pop(0)
            self._on_outcome(tag, outcome)


def send_many(
    session: SmtpSession, messages: Iterable[WireMessage], *, on_commit: Callable[[str], object] | None = None
) -> list[SendOutcome]:
    """``SmtpSession.send_many``: every message through one stream, one :class:`SendOutcome` each, in order.

    After a failure that stops the session, the message it stopped at and every later one (still taken from
    ``messages``, not sent) get that error.
    """
    outcomes: list[SendOutcome | None] = []
    ids: list[str] = []

    def record(index: int, outcome: SendOutcome) -> None:
        outcomes[index] = outcome

    commit = None if on_commit is None else (lambda index: on_commit(ids[index]))
    pending = iter(messages)
    with session.stream(on_outcome=record, on_commit=commit) as stream:
        stopped = _feed(stream, pending, outcomes, ids)
    done = [outcome or SendOutcome(ids[i], error=stopped) for i, outcome in enumerate(outcomes)]
    if stopped is not None:
        done.extend(SendOutcome(message.message_id, error=stopped) for message in pending)
    return done


def _feed(
    stream: MessageStream, messages: Iterator[WireMessage], outcomes: list[SendOutcome | None], ids: list[str]
) -> Exception | None:
    """Submit ``messages`` to ``stream`` and flush it. Returns the error that stopped the session (the stream's
    undecided messages abandoned), if one did.
    """
    for message in messages:
        outcomes.append(None)
        ids.append(message.message_id)
        try:
            stream.submit(message, len(outcomes) - 1)
        except Exception as exc:
            stream.abandon()
            return exc
    try:
        stream.flush()
    except Exception as exc:
        stream.abandon()
        return exc
    return None
