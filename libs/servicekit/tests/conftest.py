from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.ext.asyncio import AsyncEngine

from tasktracker.servicekit.db import create_engine
from tasktracker.servicekit.migrations import ensure_database
from tasktracker.servicekit.outbox import outbox_table
from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

metadata = MetaData()
outbox = outbox_table(metadata)
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", Text))


@pytest.fixture(scope="session")
async def kit_db_url(database_factory) -> str:
    url = database_factory("servicekit")
    await ensure_database(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return url


@pytest.fixture
async def engine(kit_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(kit_db_url)
    async with engine.begin() as conn:
        await conn.execute(outbox.delete())
        await conn.execute(notes.delete())
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def nats_settings(nats_url: str) -> NatsSettings:
    return NatsSettings(nats_url=nats_url)


@pytest.fixture
async def js(nats_url: str, nats_settings: NatsSettings) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_space_stream(js, nats_settings)
    yield js
    await client.close()
