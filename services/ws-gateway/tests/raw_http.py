"""A TCP server the upstream client's tests script byte by byte: each test gives the coroutine
that serves one connection, with a small reader of HTTP/1.1 requests to go with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[["Peer"], Awaitable[None]]


@dataclass
class ReceivedRequest:
    line: bytes  # `GET /path?q HTTP/1.1`
    headers: list[tuple[bytes, bytes]]  # as sent: order, case and duplicates kept
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name]


@dataclass
class Peer:
    """One connection accepted by the server."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int  # 1 for the server's first connection
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # its handler returned

    async def request(self) -> ReceivedRequest | None:
        """The next request, None if the client closed the connection first."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        line, *lines = head[:-4].split(b"\r\n")
        headers = [tuple(item.split(b": ", 1)) for item in lines]
        request = ReceivedRequest(line, headers, b"")  # type: ignore[arg-type]
        if length := request.header(b"content-length"):
            request.body = await self.reader.readexactly(int(length[0]))
        elif b"chunked" in b"".join(request.header(b"transfer-encoding")):
            request.body = await self._chunked()
        return request

    async def _chunked(self) -> bytes:
        body = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            if size == 0:
                return body

    async def answer(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def closed_by_client(self) -> bool:
        """True once the client closed its side (EOF), waiting for it."""
        return await self.reader.read(1) == b""

    async def gone(self) -> bool:
        """True once the handler of this connection returned (e.g. `answer_each` at EOF);
        fails after a second."""
        async with asyncio.timeout(1):
            await self.finished.wait()
        return True


@dataclass
class RawServer:
    handler: Handler
    port: int = 0
    connections: int = 0
    peers: list[Peer] = field(default_factory=list)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = Peer(reader, writer, self.connections)
        self.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # stopped by `raw_server`; a cancelled handler task is logged as an error
        finally:
            writer.close()
            peer.finished.set()


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    server = RawServer(handler)
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        for task in server.handlers:
            task.cancel()
        await asyncio.gather(*server.handlers, return_exceptions=True)
        listening.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait_closed(), 1)


def ok(body: bytes = b"ok", *extra: bytes) -> bytes:
    """A keep-alive answer with a declared length."""
    head = [b"HTTP/1.1 200 OK", b"content-length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def answer_each(peer: Peer) -> None:
    """Answers every request of the connection `ok(<its request line>)`."""
    while (request := await peer.request()) is not None:
        await peer.answer(ok(request.line))
