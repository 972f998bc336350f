"""The worker's consumer of the updates stream, in this process over real NATS and PostgreSQL,
on a stream and durable of each test's own: a backlog stored in one transaction in arrival
order, a redelivery that changes nothing, poison updates retried and parked without holding
back the others (and brought back as the job `requeue-parked` kicks), a database outage
waited out."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq.kicker import AsyncKicker

from tasktracker.devstack.embedded import EmbeddedPostgres
from tasktracker.ingestion.db.models import ParkedUpdate
from tasktracker.ingestion.ingest import PreparedUpdate
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.update_consumer import FetchedUpdate, decode_update, update_consumer
from tasktracker.ingestion.updates import publish_update, updates_stream_config
from tasktracker.servicekit import db
from tasktracker.servicekit.consumers import EventConsumers
from tasktracker.servicekit.migrations import upgrade
from tasktracker.servicekit.worker import WorkerRuntime
from tests.fixtures.jetstream import stream_messages

from .conftest import MIGRATIONS
from .support import bound_project, new_chat_id, sample, stored_messages, wait_for

pytestmark = pytest.mark.usefixtures("worker")  # runs the jobs: releases, requeued updates

_streams = itertools.count(1)


@pytest.fixture
def own_settings(settings: IngestionSettings, session_id: str) -> IngestionSettings:
    n = next(_streams)
    return settings.model_copy(
        update={
            "updates_stream": f"UPDATES_INGESTION_{session_id}_C{n}",
            "updates_subject": f"updates.ingestion.{session_id}.c{n}",
            "updates_durable": f"ingestion-updates-{session_id}-c{n}",
            "relay_enabled": False,  # the API's and the worker's relays publish the outbox
            "job_max_retries": 2,
            "job_retry_delay_seconds": 0.2,
            "job_outage_max_delay_seconds": 1.0,
        }
    )


Decode = Callable[[Msg], FetchedUpdate | None]
Handler = Callable[..., Awaitable[None]]


@pytest.fixture
async def consuming(app) -> AsyncIterator[Callable[..., Awaitable[WorkerRuntime]]]:
    """Start the worker's consumer as the worker does (`WorkerRuntime`), with the API's job
    broker for releases and parking; `decode`/`handler` wrap the real ones."""
    started: list[WorkerRuntime] = []

    async def start(
        settings: IngestionSettings,
        decode: Callable[[Decode], Decode] = lambda real: real,
        handler: Callable[[Handler], Handler] = lambda real: real,
    ) -> WorkerRuntime:
        def build(runtime: WorkerRuntime) -> EventConsumers:
            consumer = update_consumer(settings, runtime, app.state.runtime.job_broker)
            consumer.decode = decode(decode_update)
            consumer.handler = handler(consumer.handler)
            return EventConsumers(settings.nats_url, "test-updates", [consumer])

        runtime = WorkerRuntime(
            settings, consumers=build, streams=[updates_stream_config(settings)]
        )
        await runtime.start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        await runtime.stop()


async def publish(js: JetStreamContext, settings: IngestionSettings, update: dict) -> None:
    """As the webhook publishes (`publish_update`), on a connection of its own."""
    connection = await nats.connect(settings.nats_url)
    try:
        await js.add_stream(config=updates_stream_config(settings))  # idempotent
        body = json.dumps(update).encode()
        await publish_update(
            connection, connection.jetstream(), settings, update["update_id"], body
        )
    finally:
        await connection.close()


async def stream_drained(js: JetStreamContext, settings: IngestionSettings) -> bool:
    info = await js.stream_info(settings.updates_stream)
    consumer = await js.consumer_info(settings.updates_stream, settings.updates_durable)
    return info.state.messages == 0 and consumer.num_ack_pending == 0


def text_message(chat_id: int, message_id: int) -> dict:
    return sample("text", chat_id=chat_id, message_id=message_id, text=f"m{message_id}")


async def test_a_backlog_is_stored_in_one_transaction_in_arrival_order(
    client, engine, js, own_settings, consuming
):
    project_id, chat_id = await bound_project(client)
    ids = [5, 3, 9, 1, 7, 2, 8, 4, 6, 10]  # arrival order is what counts, not message ids
    for message_id in ids:
        await publish(js, own_settings, text_message(chat_id, message_id))
    await consuming(own_settings)

    async def all_stored():
        rows = await stored_messages(engine, project_id)
        return rows if len(rows) == len(ids) else None

    rows = await wait_for(all_stored)
    assert [row.message_id for row in rows] == ids
    async with engine.connect() as conn:
        transactions = await conn.scalar(
            text("SELECT count(DISTINCT xmin::text) FROM messages WHERE project_id = :p"),
            {"p": project_id},
        )
    assert transactions == 1
    assert await wait_for(lambda: stream_drained(js, own_settings))


async def test_an_update_delivered_again_changes_nothing(
    client, engine, js, own_settings, consuming
):
    project_id, chat_id = await bound_project(client)
    update = text_message(chat_id, 11)
    await consuming(own_settings)
    await publish(js, own_settings, update)
    await wait_for(lambda: stored_messages(engine, project_id))
    # Past the duplicate window: the same update under another message id.
    body = json.dumps(update).encode()
    await js.publish(own_settings.updates_subject, body, headers={"Nats-Msg-Id": "again"})
    await wait_for(lambda: stream_drained(js, own_settings))
    [row] = await stored_messages(engine, project_id)
    async with engine.connect() as conn:
        events = await conn.scalar(
            text("SELECT count(*) FROM outbox WHERE subject = :s"),
            {"s": f"space.{project_id}.messages.message.updated"},
        )
    assert (row.message_id, events) == (11, 1)


async def test_poison_updates_are_retried_and_parked_without_holding_back_the_rest(
    client, app, engine, js, settings, own_settings, consuming
):
    """One PostgreSQL refuses (a data error: parked at once), one fails for another reason
    (tried again after a delay, parked after `job_max_retries` deliveries); the updates around
    them are stored in order. A parked update is the job `requeue-parked` kicks again."""
    project_id, chat_id = await bound_project(client)
    updates = [text_message(chat_id, i) for i in (1, 2, 3, 4, 5, 6)]
    refused, failing = updates[1]["update_id"], updates[3]["update_id"]

    def spoil(real: Decode) -> Decode:
        def decode(msg: Msg) -> FetchedUpdate | None:
            fetched = real(msg)
            assert fetched is not None
            if fetched.update.item.update_id != refused:
                return fetched
            # What a parser bug would hand over: an id beyond the column's 64 bits.
            item = dataclasses.replace(fetched.update.item, message_id=2**63)
            return FetchedUpdate(PreparedUpdate(fetched.update.payload, item), None)

        return decode

    tries = []

    def break_one(real: Handler) -> Handler:
        async def handler(session, batch: list[FetchedUpdate]) -> None:
            if any(fetched.update.item.update_id == failing for fetched in batch):
                tries.append(len(batch))
                raise RuntimeError("a bug, not the data")
            await real(session, batch)

        return handler

    for update in updates:
        await publish(js, own_settings, update)
    await consuming(own_settings, decode=spoil, handler=break_one)

    async def parked_jobs() -> dict[str, dict] | None:
        dead = await stream_messages(js, f"dead.{settings.jobs_subject}")
        jobs = {job["task_id"]: job for job in (json.loads(m.data) for m in dead)}
        wanted = {f"telegram-update-{refused}", f"telegram-update-{failing}"}
        return jobs if wanted <= jobs.keys() else None

    parked = await wait_for(parked_jobs)
    assert await wait_for(lambda: stream_drained(js, own_settings))
    assert [row.message_id for row in await stored_messages(engine, project_id)] == [1, 3, 5, 6]
    assert tries[-2:] == [1, 1]  # its last delivery: alone in a batch, then alone again
    refused_job = parked[f"telegram-update-{refused}"]
    assert refused_job["task_name"] == "save_telegram_message"
    assert refused_job["sqlstate"].startswith("22")  # data exception
    assert parked[f"telegram-update-{failing}"]["error_type"] == "builtins.RuntimeError"

    # What `requeue-parked` does with it: the job (run by the worker process) stores it.
    job = parked[f"telegram-update-{failing}"]
    await AsyncKicker(job["task_name"], app.state.runtime.job_broker, {}).kiq(*job["args"])

    async def requeued():
        rows = await stored_messages(engine, project_id)
        return rows if len(rows) == 5 else None

    assert [row.message_id for row in await wait_for(requeued)] == [1, 3, 5, 6, 4]


async def test_a_database_outage_is_waited_out_and_nothing_is_lost(
    client, js, own_settings, consuming, tmp_path
):
    postgres = EmbeddedPostgres(tmp_path / "pg")
    url = postgres.start()
    engine: AsyncEngine = db.create_engine(url)
    try:
        await asyncio.to_thread(upgrade, url, MIGRATIONS)
        settings = own_settings.model_copy(update={"database_url": url})
        chat_id = new_chat_id()  # bound to no project: its updates are parked
        await consuming(settings)
        await publish(js, settings, text_message(chat_id, 1))
        await wait_for(lambda: parked_count(engine, chat_id))

        await asyncio.to_thread(postgres.stop)
        for message_id in (2, 3, 4):
            await publish(js, settings, text_message(chat_id, message_id))
        seen = (await consumer_info(js, settings)).delivered.consumer_seq
        await asyncio.sleep(3)
        during = await consumer_info(js, settings)
        # Handed back, not acknowledged; and tried again with backoff (0.2, 0.4, 0.8, 1 s),
        # not dozens of times: an upper bound only, a loaded machine tries less often.
        assert (await js.stream_info(settings.updates_stream)).state.messages == 3
        assert during.delivered.consumer_seq - seen <= 6 * 3

        await asyncio.to_thread(postgres.start)
        assert await wait_for(lambda: parked_count(engine, chat_id, 4), within=60)
        assert await wait_for(lambda: stream_drained(js, settings))
    finally:
        await engine.dispose()
        postgres.stop()


async def consumer_info(js: JetStreamContext, settings: IngestionSettings):
    return await js.consumer_info(settings.updates_stream, settings.updates_durable)


async def parked_count(engine: AsyncEngine, chat_id: int, at_least: int = 1) -> bool:
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(ParkedUpdate)
                .where(ParkedUpdate.chat_id == chat_id)
            )
    except Exception as error:  # the server is still starting
        assert db.is_database_unavailable(error), error
        return False
    return count >= at_least
