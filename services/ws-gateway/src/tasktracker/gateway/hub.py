"""The in-process fan-out: one JetStream consumer per gateway process, many sockets.

Every event of `space.>` arrives once on an ordered consumer, is checked and serialised into
an `event` frame once per client topic (`space:42:messages`, `space:42:*`), and the same
frame string is handed to every subscription of that topic. Resuming subscriptions replay
from a short-lived ephemeral consumer of their own (see `replay.py` and `session.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from tasktracker.contracts.envelope import Envelope, EnvelopeError, RawEnvelope
from tasktracker.contracts.subjects import (
    STREAM_SUBJECT,
    ClientTopic,
    SubjectError,
    SubjectParts,
    Topic,
    parse_subject,
)
from tasktracker.contracts.ws import encode_event_frame
from tasktracker.gateway.replay import read_history
from tasktracker.servicekit import tracing

log = logging.getLogger(__name__)

Key = tuple[int, Topic | None]
# Subscriptions offered an event before the sockets' writers get to run.
FANOUT_SLICE = 64

# Subjects repeat (a few topics and event types per project): each is split and checked once.
_parse_subject = functools.lru_cache(maxsize=4096)(parse_subject)


class Outlet(Protocol):
    """What a subscription delivers into: one socket's bounded send queue."""

    def offer(self, frame: str) -> None: ...

    def overflow(self) -> None: ...


class Subscription:
    """One client topic on one socket.

    It starts *buffering*: live events that arrive while its replay runs are held, then
    `go_live(after)` releases those newer than the last replayed sequence and from then on
    delivers directly. `last_seq` drops anything already sent, so the seam between replay and
    live has neither a gap nor a duplicate.
    """

    __slots__ = (
        "_buffer",
        "_buffer_limit",
        "frame_id",
        "key",
        "last_seq",
        "name",
        "outlet",
        "topic",
    )

    def __init__(self, outlet: Outlet, topic: ClientTopic, frame_id: str, buffer_limit: int):
        self.outlet = outlet
        self.topic = topic
        self.name = str(topic)
        self.key: Key = (topic.project_id, topic.topic)
        self.frame_id = frame_id
        self.last_seq = 0
        self._buffer: list[tuple[int, str]] | None = []
        self._buffer_limit = buffer_limit

    def deliver(self, seq: int, frame: str) -> None:
        if self._buffer is not None:
            if len(self._buffer) >= self._buffer_limit:
                self.outlet.overflow()
            else:
                self._buffer.append((seq, frame))
            return
        if seq > self.last_seq:
            self.last_seq = seq
            self.outlet.offer(frame)

    def go_live(self, after: int) -> None:
        buffered, self._buffer = self._buffer or [], None
        self.last_seq = max(self.last_seq, after)
        for seq, frame in buffered:
            self.deliver(seq, frame)


@dataclass(frozen=True)
class StreamBounds:
    first_seq: int  # oldest sequence the stream still holds (last_seq + 1 when empty)
    last_seq: int


def is_recoverable(since: int, bounds: StreamBounds) -> bool:
    """True if every event after `since` is still in the stream.

    A `since` beyond the stream's end means the stream was recreated (its sequences restarted),
    so the client's position means nothing here any more.
    """
    if since > bounds.last_seq:
        return False
    return since + 1 >= bounds.first_seq


@dataclass
class HubStats:
    sockets: int = 0
    events: int = 0  # events read from the stream
    deliveries: int = 0  # event frames handed to subscriptions
    invalid_events: int = 0
    replays: int = 0  # resumes with `since` that read the stream
    replayed_events: int = 0
    slow_consumer_closes: int = 0
    too_many_sockets_closes: int = 0
    queued_bytes: int = 0  # held in sockets' send queues right now
    unauthorized_closes: int = 0


class Hub:
    def __init__(self, js: JetStreamContext, stream: str, max_replays: int = 32) -> None:
        self.js = js
        self.stream = stream
        # Bounds the replays' requests to JetStream at once (opening a consumer, a fetch):
        # after a restart every client resumes at the same moment. Held per request only.
        self._replays = asyncio.Semaphore(max_replays)
        self.stats = HubStats()
        self._subs: dict[Key, set[Subscription]] = {}
        self._live = None
        self._last_seq = 0

    # -- registry -----------------------------------------------------------------------

    @property
    def subscription_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def add(self, sub: Subscription) -> None:
        self._subs.setdefault(sub.key, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.key]

    # -- live ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._live is not None

    async def start(self) -> None:
        bounds = await self.bounds()
        self._last_seq = bounds.last_seq
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=bounds.last_seq + 1
        )
        self._live = await self.js.subscribe(
            STREAM_SUBJECT,
            stream=self.stream,
            cb=self._on_message,
            ordered_consumer=True,
            config=config,
        )
        _prime_ordered_consumer(self._live, bounds.last_seq)
        log.info(
            "relaying %s of stream %s from seq %d", STREAM_SUBJECT, self.stream, bounds.last_seq + 1
        )

    async def stop(self) -> None:
        live, self._live = self._live, None
        if live is None:
            return
        with contextlib.suppress(Exception):
            name = (await live.consumer_info()).name
            await live.unsubscribe()
            # Else the server keeps the ephemeral consumer until its inactivity threshold.
            await self.js.delete_consumer(self.stream, name)

    async def bounds(self) -> StreamBounds:
        state = (await self.js.stream_info(self.stream)).state
        return StreamBounds(first_seq=max(state.first_seq, 1), last_seq=state.last_seq)

    async def _on_message(self, msg: Msg) -> None:
        seq = stream_sequence(msg)
        if seq <= self._last_seq:
            return  # an ordered-consumer restart re-sent what was already relayed
        self._last_seq = seq
        self.stats.events += 1
        try:
            parts = _parse_subject(msg.subject)
        except SubjectError:
            self.stats.invalid_events += 1
            return
        targets = [
            (key, subs)
            for key in ((parts.project_id, parts.topic), (parts.project_id, None))
            if (subs := self._subs.get(key))
        ]
        if not targets:
            return
        envelope = self._valid_envelope(parts, msg.data)
        if envelope is None or is_withheld(parts, msg.data):
            return
        if not tracing.enabled():
            await self._fan_out(targets, seq, msg.data)
            return
        with tracing.span(
            f"send {parts.topic}.{parts.event_type} to sockets",
            parent=envelope.trace_context,
            kind=tracing.SpanKind.PRODUCER,
            attributes={
                "tt.event.id": str(envelope.id),
                "tt.stream.seq": seq,
                "tt.subscriptions": sum(len(subs) for _, subs in targets),
            },
        ):
            await self._fan_out(targets, seq, msg.data)

    async def _fan_out(
        self, targets: list[tuple[Key, set[Subscription]]], seq: int, data: bytes
    ) -> None:
        for _, subs in targets:
            snapshot = list(subs)
            if not snapshot:  # all of them unsubscribed while a previous slice was sent
                continue
            # Every subscription of a key has the same client topic name.
            text = encode_event_frame(snapshot[0].name, seq, data).decode()
            for start in range(0, len(snapshot), FANOUT_SLICE):
                if start:
                    # Let the writers woken so far send before the next slice is offered:
                    # else the first socket waits until every socket has been offered the
                    # frame (14 ms at 2,000 sockets). nats-py awaits this callback before
                    # it hands over the next event, so events keep their order.
                    await asyncio.sleep(0)
                for sub in snapshot[start : start + FANOUT_SLICE]:
                    if sub in subs:  # not unsubscribed or closed meanwhile
                        sub.deliver(seq, text)
                        self.stats.deliveries += 1
        # Let the sockets' writers run between two events, so that a burst read from NATS in
        # one go does not pile up in the send queues of clients that are keeping up. With no
        # event waiting, nats-py's wait for the next one yields to them anyway.
        if self._live is not None and self._live.pending_msgs:
            await asyncio.sleep(0)

    def _valid_envelope(self, parts: SubjectParts, data: bytes) -> RawEnvelope | None:
        """The envelope must parse and agree with its subject: the subject decides who sees
        an event, so a producer bug must not show project 1's data to project 2."""
        try:
            envelope = Envelope.from_bytes(data)
        except EnvelopeError as exc:
            log.warning("dropping invalid envelope on %s: %s", parts, exc)
            self.stats.invalid_events += 1
            return None
        if (envelope.project_id, envelope.topic, envelope.type) != (
            parts.project_id,
            parts.topic,
            parts.event_type,
        ):
            log.warning("dropping envelope %s: it does not match subject %s", envelope.id, parts)
            self.stats.invalid_events += 1
            return None
        return envelope

    # -- replay -------------------------------------------------------------------------

    async def replay(
        self, topic: ClientTopic, since: int, until: int, batch: int
    ) -> AsyncIterator[list[tuple[int, str]]]:
        """Batches of `(seq, frame)` for the topic's events after `since`, in stream order,
        up to at least `until` (or the end of the stream, whichever comes first). Raises
        `ReplayIncomplete` if it cannot get that far (see `replay.py`)."""
        topic_name = str(topic)
        self.stats.replays += 1
        history = read_history(self.js, self.stream, topic.nats_filter, since, until, batch)
        async with contextlib.aclosing(history):
            while True:
                # A slot is held only while JetStream is asked: between two batches the caller
                # may wait a long while for one slow socket, and must not stop everyone's
                # resume meanwhile. The slot bounds fetches at once after a restart.
                async with self._replays:
                    msgs = await anext(history, None)
                if msgs is None:
                    return
                frames: list[tuple[int, str]] = []
                for msg in msgs:
                    seq = stream_sequence(msg)
                    try:
                        parts = _parse_subject(msg.subject)
                    except SubjectError:
                        continue
                    if self._valid_envelope(parts, msg.data) is not None and not is_withheld(
                        parts, msg.data
                    ):
                        frame = encode_event_frame(topic_name, seq, msg.data)
                        frames.append((seq, frame.decode()))
                self.stats.replayed_events += len(frames)
                yield frames


def stream_sequence(msg: Msg) -> int:
    """The JetStream stream sequence of a pushed or fetched message, from its reply subject.

    `msg.metadata` parses every field of the subject into frozen dataclasses and a datetime
    (≈ 3% of the gateway's CPU under load) where one number is needed. The subject is
    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…` (9 tokens), or with a domain and
    an account hash before the stream (11 or 12 tokens)."""
    tokens = (msg.reply or "").split(".")
    if tokens[0] == "$JS" and len(tokens) > 1 and tokens[1] == "ACK":
        if len(tokens) == 9:
            return int(tokens[5])
        if len(tokens) >= 11:
            return int(tokens[7])
    raise NotJSMessageError


_IMPORTED_FLAG = b'"imported":true'


def is_withheld(parts: SubjectParts, data: bytes) -> bool:
    """A `message.updated` of a chat history import (`data.imported`): not relayed, live or
    replayed. An import stores thousands of messages a second; a browser follows it by the
    few `ingestion.import_progress` events and reloads messages over REST when it completes.

    The byte search only spares parsing the other events: inside a JSON string a quote is
    escaped, so `"imported":true` can only be a key; the parsed envelope decides."""
    if parts.event_type != "message.updated" or _IMPORTED_FLAG not in data:
        return False
    try:
        return json.loads(data).get("data", {}).get("imported") is True
    except (ValueError, AttributeError):
        return False


def _prime_ordered_consumer(live: object, last_seq: int) -> None:
    """nats-py restarts an ordered consumer from its last delivered stream sequence + 1, which
    is 0 + 1 — the whole stream — if it resets before its first message (e.g. a NATS reconnect
    in a quiet hour). Tell it where it really starts. `_on_message` also drops anything at or
    below the last relayed sequence, so this only saves the re-read, not correctness."""
    jsi = getattr(getattr(live, "_sub", None), "_jsi", None)
    if jsi is not None and getattr(jsi, "_sseq", None) == 0:
        jsi._sseq = last_seq
