"""A counting SMTP sink on 127.0.0.1, run in its own process so the server's work never shares a GIL with the
contender being measured.

``python bench/bench_sink.py`` prints ``PORT <n>`` on stdout, then answers each line read from stdin: ``count``
gives ``<messages> <bytes>`` received so far. It exits when stdin closes (so it cannot outlive the bench).
Accepted messages are counted and discarded.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

DATA_SIZE_LIMIT = 256 * 1024 * 1024  # aiosmtpd's default (32 MiB) is below a 25 MiB file in base64


class CountingHandler:
    """Accept every message, keep only counts."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages += 1
        self.bytes += len(envelope.content)  # type: ignore[attr-defined]
        envelope.content = None  # type: ignore[attr-defined]  # discard at once
        return "250 OK"


def main(handler: CountingHandler | None = None, protocol: Any = None) -> None:
    """Serve until stdin closes: ``handler`` (a :class:`CountingHandler`) behind ``protocol`` (aiosmtpd's SMTP)."""
    import asyncio
    import threading

    from aiosmtpd.smtp import SMTP

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    counting = handler or CountingHandler()
    smtp = protocol or SMTP
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: smtp(counting, data_size_limit=DATA_SIZE_LIMIT, hostname="sink.localhost"),
            host="127.0.0.1",
            port=0,
        )
    )
    port = server.sockets[0].getsockname()[1]

    def answer() -> None:
        for line in sys.stdin:
            if line.strip() == "count":
                print(f"{counting.messages} {counting.bytes}", flush=True)
        loop.call_soon_threadsafe(loop.stop)

    print(f"PORT {port}", flush=True)
    threading.Thread(target=answer, daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


if __name__ == "__main__":
    main()
