"""A TCP proxy on 127.0.0.1 that holds every byte a fixed time in each direction: a relay's distance, on loopback.

``python bench/delay_proxy.py <target port> <delay ms>`` prints ``PORT <n>`` on stdout, forwards each connection
to ``127.0.0.1:<target port>`` and delivers whatever it reads in either direction ``delay ms`` later, in order,
with no bandwidth limit (a read is delayed, never split or paced). It exits when stdin closes, so it cannot
outlive the bench.
"""

from __future__ import annotations

import asyncio
import sys
import threading


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            when, data = await due.get()
            wait = when - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
        writer.close()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(1 << 16):
            due.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    due.put_nowait((loop.time() + delay, None))
    await delivering


async def _serve(target_port: int, delay: float) -> None:
    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _forward(client_reader, server_writer, delay),
            _forward(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()

    def watch_stdin() -> None:
        for _ in sys.stdin:
            pass
        loop.call_soon_threadsafe(stopped.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with server:
        await stopped.wait()


def main() -> None:
    target_port, delay_ms = int(sys.argv[1]), float(sys.argv[2])
    asyncio.run(_serve(target_port, delay_ms / 1000))


if __name__ == "__main__":
    main()
