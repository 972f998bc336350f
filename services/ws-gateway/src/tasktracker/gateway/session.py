"""One WebSocket connection: its subscriptions, its bounded send queue and its writer.

Everything a socket is sent goes through one queue drained by one writer task, so frames keep
their order. The queue is bounded in frames and in bytes (characters): whatever a client makes
the gateway hold for it — events, or answers to frames it sends without reading — stays under
the bound. Live events and answers are *offered*: if the queue is full the socket is too slow
and is closed with 4429 instead of slowing anyone else. Replays *wait* for room (they read
from JetStream at the socket's own pace), leave half the queue to live events, run one at a
time per socket, and close the socket with 4429 if it does not drain within
`replay_drain_timeout`: a replay never waits on one socket while holding anything shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.subjects import SubjectError, parse_client_topic
from tasktracker.contracts.ws import (
    CloseCode,
    ErrorFrame,
    FrameError,
    PingFrame,
    PongFrame,
    SubscribedFrame,
    SubscribeFrame,
    UnsubscribedFrame,
    UnsubscribeFrame,
    parse_client_frame,
)
from tasktracker.gateway.hub import Hub, Subscription, is_recoverable
from tasktracker.gateway.replay import ReplayIncomplete

log = logging.getLogger(__name__)


class _Stalled(Exception):
    """The socket did not drain within the replay's bound; it is being closed with 4429."""


@dataclass(frozen=True)
class SessionLimits:
    send_queue_size: int = 1000
    send_queue_bytes: int = 1024 * 1024
    replay_drain_timeout: float = 10.0
    max_subscriptions: int = 100
    replay_batch_size: int = 256
    close_timeout: float = 5.0
    token_leeway: float = 0.0  # an open socket lives until `exp` plus the verifier's leeway


class Session:
    def __init__(self, ws: WebSocket, claims: Claims, hub: Hub, limits: SessionLimits) -> None:
        self._ws = ws
        self._claims = claims
        self._hub = hub
        self._limits = limits
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._replaying = asyncio.Lock()  # one replay at a time per socket
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._replay_high_water = max(1, limits.send_queue_size // 2)
        self._replay_high_water_bytes = max(1, limits.send_queue_bytes // 2)
        self._closing: asyncio.Future[CloseCode] = asyncio.get_running_loop().create_future()
        self._subs: dict[str, Subscription] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}

    # -- Outlet: called by the hub for every live event ---------------------------------

    def offer(self, frame: str) -> None:
        if self._closing.done():
            return
        size = len(frame)
        if (
            len(self._queue) >= self._limits.send_queue_size
            or self._queued_bytes + size > self._limits.send_queue_bytes
        ):
            self.overflow()
            return
        self._queue.append(frame)
        self._queued_bytes += size
        self._hub.stats.queued_bytes += size
        self._wake.set()

    def overflow(self) -> None:
        if not self._closing.done():
            self._hub.stats.slow_consumer_closes += 1
            self.close(CloseCode.SLOW_CONSUMER)

    def close(self, code: CloseCode) -> None:
        if not self._closing.done():
            self._closing.set_result(code)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        self._hub.stats.sockets += 1
        loop = asyncio.get_running_loop()
        lifetime = self._claims.exp + self._limits.token_leeway - time.time()
        expiry = loop.call_later(max(0.0, lifetime), self._expire)
        reader = asyncio.create_task(self._read(), name="ws-read")
        writer = asyncio.create_task(self._write(), name="ws-write")
        try:
            await asyncio.wait({reader, writer, self._closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            expiry.cancel()
            starting = list(self._starting.values())
            for name in list(self._subs):
                self._drop(name)
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, *starting, return_exceptions=True)
            self._release_queue()
            self._hub.stats.sockets -= 1
        code = self._close_code(reader, writer)
        if code is not None:
            with contextlib.suppress(Exception):
                # Bounded: a client that stopped reading may never take the close frame.
                await asyncio.wait_for(
                    self._ws.close(code, code.reason), self._limits.close_timeout
                )

    def _release_queue(self) -> None:
        """Frames nobody will send: let them go now, not when the close handshake ends."""
        self._hub.stats.queued_bytes -= self._queued_bytes
        self._queued_bytes = 0
        self._queue.clear()

    def _close_code(
        self, reader: asyncio.Task[None], writer: asyncio.Task[None]
    ) -> CloseCode | None:
        if self._closing.done():
            return self._closing.result()
        for task in (reader, writer):
            if task.done() and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                if isinstance(error, WebSocketDisconnect | OSError | RuntimeError):  # client gone
                    return None
                log.error("websocket session failed", exc_info=error)
                return CloseCode.INTERNAL_ERROR
        return None  # the client disconnected

    def _expire(self) -> None:
        self._hub.stats.unauthorized_closes += 1
        self.close(CloseCode.UNAUTHORIZED)

    async def _write(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            frame = queue.popleft()
            self._queued_bytes -= len(frame)
            self._hub.stats.queued_bytes -= len(frame)
            if self._has_room_for_replay():
                self._room.set()
            await self._ws.send_text(frame)

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:  # binary frames are not part of the protocol
                self.close(CloseCode.BAD_PROTOCOL)
                return
            self._handle(text)

    # -- client frames --------------------------------------------------------------------

    def _send(self, frame: BaseModel) -> None:
        self.offer(frame.model_dump_json())

    def _handle(self, text: str) -> None:
        try:
            frame = parse_client_frame(text)
        except FrameError as exc:
            self._send(ErrorFrame(id=exc.frame_id, code=400, message=str(exc)))
            return
        if isinstance(frame, PingFrame):
            self._send(PongFrame(id=frame.id))
        elif isinstance(frame, SubscribeFrame):
            self._subscribe(frame)
        elif isinstance(frame, UnsubscribeFrame):
            self._unsubscribe(frame)

    def _subscribe(self, frame: SubscribeFrame) -> None:
        try:
            topic = parse_client_topic(frame.topic)
        except SubjectError as exc:
            self._send(ErrorFrame(id=frame.id, code=400, message=str(exc)))
            return
        if self._claims.role_in(topic.project_id) is None:
            self._send(ErrorFrame(id=frame.id, code=403, message=f"not allowed to see {topic}"))
            return
        name = str(topic)
        if name in self._subs:
            self._send(ErrorFrame(id=frame.id, code=409, message=f"already subscribed to {name}"))
            return
        if len(self._subs) >= self._limits.max_subscriptions:
            message = f"at most {self._limits.max_subscriptions} subscriptions per connection"
            self._send(ErrorFrame(id=frame.id, code=400, message=message))
            return
        sub = Subscription(self, topic, frame.id, buffer_limit=self._limits.send_queue_size)
        self._subs[name] = sub
        self._hub.add(sub)  # buffering from here on, so nothing falls between replay and live
        self._starting[name] = asyncio.create_task(self._start(sub, frame.since))

    async def _start(self, sub: Subscription, since: int | None) -> None:
        try:
            try:
                bounds = await self._hub.bounds()
            except Exception as exc:
                log.warning("cannot read stream bounds: %r", exc)
                self._drop(sub.name)
                message = "event stream unavailable, subscribe again"
                self._send(ErrorFrame(id=sub.frame_id, code=503, message=message))
                return
            recovered = since is not None and is_recoverable(since, bounds)
            self._send(
                SubscribedFrame(
                    id=sub.frame_id, topic=sub.name, recovered=recovered, position=bounds.last_seq
                )
            )
            after = bounds.last_seq
            if recovered and since is not None and since < bounds.last_seq:
                async with self._replaying:
                    after = await self._replay(sub, since, bounds.last_seq)
            sub.go_live(after)
        except asyncio.CancelledError:
            raise
        except _Stalled:
            pass  # closed with 4429 already
        except Exception as exc:
            # `subscribed` is out already and the events between the last one replayed and
            # `position` went out live before this subscription existed: going live would
            # skip them. End the connection so that the client resumes with `since`.
            if isinstance(exc, ReplayIncomplete):
                log.warning("replay of %s fell short: %s", sub.name, exc)
            else:
                log.exception("replay of %s failed", sub.name)
            self.close(CloseCode.INTERNAL_ERROR)
        finally:
            if self._starting.get(sub.name) is asyncio.current_task():
                del self._starting[sub.name]

    async def _replay(self, sub: Subscription, since: int, until: int) -> int:
        """Sends the topic's events after `since` up to `until`; the last sequence sent."""
        after = since
        batches = self._hub.replay(sub.topic, since, until, self._limits.replay_batch_size)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for seq, frame in batch:
                    await self._wait_for_room()
                    self.offer(frame)
                    after = seq
        return after

    def _has_room_for_replay(self) -> bool:
        return (
            len(self._queue) < self._replay_high_water
            and self._queued_bytes < self._replay_high_water_bytes
        )

    async def _wait_for_room(self) -> None:
        while not self._has_room_for_replay() and not self._closing.done():
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), self._limits.replay_drain_timeout)
            except TimeoutError:
                self.overflow()
                raise _Stalled from None

    def _unsubscribe(self, frame: UnsubscribeFrame) -> None:
        try:
            topic = parse_client_topic(frame.topic)
        except SubjectError as exc:
            self._send(ErrorFrame(id=frame.id, code=400, message=str(exc)))
            return
        self._drop(str(topic))
        self._send(UnsubscribedFrame(id=frame.id, topic=str(topic)))

    def _drop(self, name: str) -> None:
        sub = self._subs.pop(name, None)
        if sub is not None:
            self._hub.remove(sub)
        task = self._starting.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
