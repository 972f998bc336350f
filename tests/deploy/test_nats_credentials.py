"""Services take their NATS credentials from settings (`TT_<SERVICE>_NATS_USER` /
`_NATS_PASSWORD`, or `_NATS_CREDS_FILE`) everywhere they connect: the API runtime and its job
broker, the FastStream event broker, the worker runtime, the gateway. Against the deploy's
secured nats-server, with credentials given only through settings."""

from __future__ import annotations

import asyncio
import uuid

from taskiq import BrokerMessage

from tasktracker.gateway.app import create_app
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.events import make_event_broker
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.runtime import ServiceRuntime
from tasktracker.servicekit.worker import WorkerRuntime
from tests.deploy.conftest import SecuredNats
from tests.fixtures.clients import asgi_client

CONNECT_TIMEOUT = 15  # a refused connection raises long before; this only bounds a hang


def ingestion_settings(secured_nats: SecuredNats, **credentials: object) -> IngestionSettings:
    return IngestionSettings(
        nats_url=secured_nats.url,
        relay_enabled=False,
        # never reached: the relay is off and nothing here queries the database
        database_url="postgresql://nobody@127.0.0.1:1/none",
        **credentials,
    )


async def test_the_api_runtime_and_its_job_broker_use_the_settings_credentials(
    secured_nats: SecuredNats,
) -> None:
    settings = ingestion_settings(
        secured_nats, nats_user="ingestion", nats_password=secured_nats.passwords["ingestion"]
    )
    broker = make_job_broker(settings)
    runtime = ServiceRuntime(settings, job_broker=broker, database_required=False)
    await asyncio.wait_for(runtime.start(), CONNECT_TIMEOUT)
    try:
        checks = runtime.readiness_checks()
        await checks["nats"]()
        body = uuid.uuid4().hex.encode()
        await broker.kick(
            BrokerMessage(task_id=uuid.uuid4().hex, task_name="t", message=body, labels={})
        )
        [msg] = await broker.consumer.fetch(1, timeout=5)
        assert msg.data == body
        await msg.ack_sync(timeout=5)
    finally:
        await runtime.stop()


async def test_the_event_broker_uses_the_settings_credentials(secured_nats: SecuredNats) -> None:
    settings = KnowledgeSettings(
        nats_url=secured_nats.url,
        nats_user="knowledge",
        nats_password=secured_nats.passwords["knowledge"],
    )
    broker = make_event_broker(settings, "knowledge-events")
    client = await asyncio.wait_for(broker.connect(), CONNECT_TIMEOUT)
    try:
        assert client.is_connected
        info = await client.jetstream().account_info()
        assert info.streams >= 0  # the account's JetStream answers this user
    finally:
        await broker.stop()


async def test_the_worker_runtime_uses_the_settings_credentials(
    secured_nats: SecuredNats,
) -> None:
    settings = ingestion_settings(
        secured_nats, nats_user="ingestion", nats_password=secured_nats.passwords["ingestion"]
    ).model_copy(update={"relay_enabled": True})
    worker = WorkerRuntime(settings)
    # connects, declares the space stream, then starts its relay (which waits for PostgreSQL)
    await asyncio.wait_for(worker.start(), CONNECT_TIMEOUT)
    await worker.stop()


async def test_the_gateway_uses_the_settings_credentials(secured_nats: SecuredNats) -> None:
    settings = GatewaySettings(
        nats_url=secured_nats.url,
        nats_user="gateway",
        nats_password=secured_nats.passwords["gateway"],
        jwt_secret="x" * 32,
        internal_actor_key="k" * 32,
    )
    async with asgi_client(create_app(settings)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
