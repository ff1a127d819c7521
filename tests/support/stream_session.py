"""A stand-in for ``SmtpSession`` in the merge's unit tests: its stream decides each message as it is submitted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import SmtpProviderError
from airflow_provider_smtpconn.smtp.transaction import SendOutcome

if TYPE_CHECKING:
    from collections.abc import Callable


class StreamSession:
    """``send(message, on_commit) -> SendResult`` decides each message (an ``SmtpProviderError`` it raises is that
    message's outcome; anything else, such as a test's ``Killed``, ends the merge); ``closed`` counts ``close()``.
    """

    def __init__(self, send: Callable[[Any, Callable[[str], object]], Any], closed: list[int] | None = None) -> None:
        self.send = send
        self.closed = [] if closed is None else closed

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def close(self) -> None:
        self.closed.append(1)

    def stream(self, *, on_outcome: Callable[[Any, SendOutcome], object], on_commit: Callable[[Any], object]) -> Any:
        session = self

        class Stream:
            def __enter__(self) -> Stream:
                return self

            def __exit__(self, *exc_info: object) -> None:
                pass

            def submit(self, message: Any, tag: Any) -> None:
                try:
                    result = session.send(message, lambda _message_id: on_commit(tag))
                except SmtpProviderError as exc:
                    on_outcome(tag, SendOutcome(message.message_id, error=exc))
                    return
                on_outcome(tag, SendOutcome(message.message_id, result))

            def flush(self) -> None:
                pass

        return Stream()
