"""A TCP proxy on loopback that can blackhole its traffic: connections stay open but no byte
is forwarded (a database behind a dead network path). Runs its own event loop in a thread, so
processes other than the test's (Ray actors) can use it."""

from __future__ import annotations

import asyncio
import threading


class BlackholeProxy:
    """Forwards 127.0.0.1:<port> to `target`; `blackhole()` stops forwarding (connections stay
    open, new ones are accepted and left silent); `restore()` forwards again and resets the
    connections that were silenced, as a recovered network path would break them."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._open = threading.Event()
        self._open.set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.append(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if not self._open.is_set():
                continue  # swallowed: the peer waits forever for an answer
            writer.write(data)
            await writer.drain()
        writer.close()

    def blackhole(self) -> None:
        """From now on no byte passes, in either direction, on any connection."""
        self._open.clear()

    def restore(self) -> None:
        """Forward again; the silenced connections are reset (their peers reconnect)."""

        def reset() -> None:
            for writer in self._writers:
                writer.transport.abort()
            self._writers.clear()
            self._open.set()

        self._loop.call_soon_threadsafe(reset)

    def close(self) -> None:
        """Stop the proxy and its thread."""

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in self._writers:
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
