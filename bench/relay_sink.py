"""The counting sink of ``bench_sink.py``, offering PIPELINING (RFC 2920) and CHUNKING (RFC 3030), for the relay case.

aiosmtpd reads commands from a stream buffer and answers them in order, so commands that arrive together are
handled correctly; it only does not advertise PIPELINING, which this sink's EHLO adds. BDAT is added here: the
chunk is read as its size says, and a ``LAST`` chunk ends the message as DATA's final dot does.

``python bench/relay_sink.py`` prints ``PORT <n>`` and answers ``count`` lines on stdin as ``bench_sink.py`` does.
"""

from __future__ import annotations

from typing import Any

from aiosmtpd.smtp import SMTP, syntax
from bench_sink import CountingHandler, main


class RelayHandler(CountingHandler):
    """Counts messages; offers PIPELINING and CHUNKING in EHLO."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        lines = [r[4:] for r in responses]
        lines[-1:-1] = ["PIPELINING", "CHUNKING"]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]


class RelaySMTP(SMTP):
    """aiosmtpd's protocol plus BDAT (RFC 3030 §2)."""

    _chunks: list[bytes]

    @syntax("BDAT <size> [LAST]")
    async def smtp_BDAT(self, arg: str | None) -> None:
        size_text, _, last = (arg or "").partition(" ")
        data = await self._reader.readexactly(int(size_text))
        if self.envelope is None or not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        chunks = self.__dict__.setdefault("_chunks", [])
        chunks.append(data)
        if last.strip().upper() != "LAST":
            await self.push(f"250 2.0.0 {len(data)} octets received")
            return
        self.envelope.content = self.envelope.original_content = b"".join(chunks)
        chunks.clear()
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


if __name__ == "__main__":
    main(RelayHandler(), RelaySMTP)
