"""The hub's fan-out over real NATS: the first socket does not wait for the last one."""

from __future__ import annotations

import asyncio

from tasktracker.contracts.subjects import ClientTopic, Topic
from tasktracker.gateway.hub import FANOUT_SLICE, Hub, Subscription
from tasktracker.servicekit.settings import NatsSettings

from .helpers import chat_bound, publish

SOCKETS = 10 * FANOUT_SLICE


class RecordingOutlet:
    """Stands in for a socket's send queue; the hub under test is real."""

    def __init__(self, log: list[str], offered: asyncio.Event, all_offered: asyncio.Event):
        self.log, self.offered, self.all_offered = log, offered, all_offered

    def offer(self, frame: str) -> None:
        self.log.append("offer")
        self.offered.set()
        if self.log.count("offer") == SOCKETS:
            self.all_offered.set()

    def overflow(self) -> None:
        raise AssertionError("no outlet here is slow")


async def test_a_writer_runs_before_the_last_socket_is_offered_the_event(js, project_ids):
    """A socket's writer is a task woken by the offer. If the hub offers an event to every
    subscription in one go, the first socket's writer only runs after the last offer: at
    2,000 sockets the first frame left 14 ms late. The hub yields between slices, so the
    writer woken by the first offer runs before the last one."""
    hub = Hub(js, NatsSettings().stream_name)
    await hub.start()
    try:
        pid = next(project_ids)
        log: list[str] = []
        offered, all_offered = asyncio.Event(), asyncio.Event()
        for _ in range(SOCKETS):
            outlet = RecordingOutlet(log, offered, all_offered)
            sub = Subscription(outlet, ClientTopic(pid, Topic.messages), "s", buffer_limit=4)
            hub.add(sub)
            sub.go_live(0)

        async def writer() -> None:
            await offered.wait()
            log.append("write")

        writing = asyncio.create_task(writer())
        await publish(js, chat_bound(pid))
        await asyncio.wait_for(all_offered.wait(), 30)
        await writing
        assert log.count("offer") == SOCKETS
        assert log.index("write") < len(log) - 1, "the writer ran only after the last offer"
    finally:
        await hub.stop()
