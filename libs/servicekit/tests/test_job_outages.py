"""Jobs through outages: a stopped database is waited out, a NATS blip never strands a job,
and what is parked is bounded and free of SQL parameters."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import nats
import pytest
from nats.js.api import StreamConfig
from sqlalchemy import text

from tasktracker.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from tasktracker.servicekit.db import create_engine, is_database_unavailable
from tasktracker.servicekit.job_errors import DependencyUnavailable
from tasktracker.servicekit.jobs import make_job_broker

from .jobs_support import job_settings, running_worker, wait_until


async def parked_count(nats_url: str, stream: str) -> int:
    client = await nats.connect(nats_url)
    try:
        return (await client.jetstream().stream_info(stream)).state.messages
    finally:
        await client.close()


async def test_database_outage_is_waited_out_without_spending_tries(nats_url, session_id, tmp_path):
    postgres = EmbeddedPostgres(tmp_path / "pg")
    url = postgres.start()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE stored (n int PRIMARY KEY)"))
    settings = job_settings(
        nats_url,
        f"outage_{session_id}",
        job_max_retries=2,  # without waiting, the third attempt would never happen
        job_retry_delay_seconds=0.2,
        job_outage_max_delay_seconds=1.0,
    )
    broker = make_job_broker(settings)
    attempts: list[float] = []

    @broker.task(task_name="store")
    async def store(n: int) -> None:
        attempts.append(time.monotonic())
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO stored VALUES (:n) ON CONFLICT DO NOTHING"), {"n": n}
            )

    async def stored() -> list[int]:
        async with engine.connect() as conn:
            return list((await conn.execute(text("SELECT n FROM stored"))).scalars())

    try:
        postgres.stop()
        async with running_worker(broker):
            await store.kiq(1)
            await wait_until(lambda: len(attempts) >= 5)  # more than twice its tries
            assert await parked_count(nats_url, broker.dead_letter_stream) == 0
            postgres.start()  # same data directory: the table is there
            async with asyncio.timeout(20):
                while await _quiet(stored) != [1]:
                    await asyncio.sleep(0.1)
        assert await parked_count(nats_url, broker.dead_letter_stream) == 0
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert all(gap >= 0.2 for gap in gaps[:4])  # it waited between tries: no spinning
    finally:
        await engine.dispose()
        postgres.stop()


async def test_a_job_may_say_it_waits_for_a_dependency(nats_url, session_id):
    settings = job_settings(
        nats_url, f"depwait_{session_id}", job_max_retries=1, job_retry_delay_seconds=0.1
    )
    broker = make_job_broker(settings)
    attempts: list[int] = []

    @broker.task(task_name="needs_llm")
    async def needs_llm() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise DependencyUnavailable("the model provider answers 503")

    async with running_worker(broker):
        await needs_llm.kiq()
        await wait_until(lambda: len(attempts) == 3)  # one try allowed, three runs
    assert await parked_count(nats_url, broker.dead_letter_stream) == 0


async def _quiet(query):
    try:
        return await query()
    except Exception as exc:
        assert is_database_unavailable(exc), exc
        return None


async def test_errors_of_an_unreachable_or_lost_database_are_recognised(engine):
    closed = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    try:
        async with closed.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as refused:
        assert is_database_unavailable(refused)
    finally:
        await closed.dispose()

    async with engine.connect() as victim, engine.connect() as admin:
        pid = await victim.scalar(text("SELECT pg_backend_pid()"))
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(Exception) as lost:
            await victim.execute(text("SELECT 1"))
        assert is_database_unavailable(lost.value)

        with pytest.raises(Exception) as refused_value:  # SQLSTATE 22: the value, not an outage
            await admin.execute(text("SELECT CAST(:v AS int)"), {"v": "not a number"})
        assert not is_database_unavailable(refused_value.value)
    assert not is_database_unavailable(ValueError("a bug"))
    assert not is_database_unavailable(TimeoutError())  # a job's own timeout spends a try


async def test_a_job_whose_error_handling_fails_is_redelivered(tmp_path, session_id):
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    settings = job_settings(
        server.url, f"blip_{session_id}", job_ack_wait_seconds=4.0, job_retry_delay_seconds=0.1
    )
    # No buffering while disconnected: the re-kick and the park fail at once, as they do
    # once a longer blip has filled the buffer, instead of being sent after the reconnect.
    broker = make_job_broker(settings, pending_size=0)
    attempts: list[int] = []

    @broker.task(task_name="unlucky")
    async def unlucky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            await asyncio.to_thread(server.stop)
            await wait_until(lambda: not broker.client.is_connected)
            raise RuntimeError("fails while NATS is away")

    try:
        async with running_worker(broker) as receiver:
            await unlucky.kiq()
            await wait_until(lambda: receiver.finished >= 1)  # its error handling has failed
            server.start()
            await wait_until(lambda: len(attempts) >= 2, within=30)
    finally:
        server.stop()


async def test_dead_letters_are_bounded_and_carry_no_sql_parameters(engine, nats_url, session_id):
    settings = job_settings(
        nats_url,
        f"deadlimits_{session_id}",
        job_dead_letter_max_age_seconds=3600,
        job_dead_letter_max_bytes=1_000_000,
    )
    client = await nats.connect(nats_url)
    js = client.jetstream()
    # A stream made by an older version, without limits: startup brings it to the settings.
    dead_stream = f"{settings.jobs_stream}_DEAD"
    await js.add_stream(StreamConfig(name=dead_stream, subjects=[f"dead.{settings.jobs_subject}"]))
    broker = make_job_broker(settings)

    @broker.task(task_name="store_text")
    async def store_text(body: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})

    try:
        async with running_worker(broker):
            config = (await js.stream_info(dead_stream)).config
            assert config.max_age == 3600
            assert config.max_bytes == 1_000_000
            await store_text.kiq("private chat text\x00")  # PostgreSQL refuses NUL in text
            async with asyncio.timeout(20):
                while (await js.stream_info(dead_stream)).state.messages < 1:
                    await asyncio.sleep(0.05)
        parked = json.loads((await js.get_msg(dead_stream, 1)).data)
        assert parked["root_cause"].endswith("CharacterNotInRepertoireError")
        assert parked["sqlstate"] == "22021"
        assert "invalid byte sequence" in parked["error"]
        assert "private chat text" not in parked["error"]
        assert "private chat text" in parked["args"][0]  # kept to run it again
    finally:
        await client.close()
