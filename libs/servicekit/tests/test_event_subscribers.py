"""FastStream subscribers read the one `space.>` stream without redeclaring it."""

from __future__ import annotations

import asyncio

from faststream.nats.annotations import NatsMessage
from nats.js.api import DeliverPolicy

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import ChatBound, make_envelope
from tasktracker.contracts.subjects import STREAM_SUBJECT, Topic
from tasktracker.servicekit.events import make_event_broker, subscribe_topic


async def test_durable_subscriber_receives_its_topic_and_leaves_the_stream_alone(
    js, nats_settings, project_ids, session_id
):
    pid = next(project_ids)
    broker = make_event_broker(nats_settings, name="subscriber-test")
    received: list[Envelope] = []
    got = asyncio.Event()

    durable = f"kit-test-{session_id}"

    # From new messages on: the shared stream may hold any number of other messages of the
    # topic (benchmarks leave ~100k), which a consumer from the start would read first.
    @subscribe_topic(
        broker,
        nats_settings,
        topic=Topic.messages,
        durable=durable,
        deliver_policy=DeliverPolicy.NEW,
    )
    async def on_message(message: NatsMessage) -> None:
        envelope = Envelope.from_bytes(message.body)
        if envelope.project_id == pid:
            received.append(envelope)
            got.set()

    await broker.start()
    try:
        event = make_envelope(ChatBound(chat_id=1, released_parked=0), project_id=pid, producer="t")
        await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": event.msg_id})
        await asyncio.wait_for(got.wait(), 10)
    finally:
        await broker.stop()
        await js.delete_consumer(nats_settings.stream_name, durable)

    assert [e.id for e in received] == [event.id]
    info = await js.stream_info(nats_settings.stream_name)
    assert info.config.subjects == [STREAM_SUBJECT]
