"""The deploy's NATS users enforce the service boundaries (issue 12), on a real nats-server.

Each service publishes only its own topics of `space.>`, creates and reads only its own
durable consumers of SPACES and uses its own job stream; the gateway reads `space.>` and
publishes none of it. A publish the server refuses is seen two ways: JetStream stores nothing
(no ack) and the server reports a permissions violation to the client.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from taskiq import BrokerMessage

from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.devstack.embedded import nats_server_binary
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.updates import publish_update, updates_stream_config
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.consumers import ConsumerOptions
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.stream import ensure_space_stream, ensure_stream
from tests.deploy.conftest import DEPLOY, SecuredNats

SETTINGS: dict[str, ServiceSettings] = {
    "ingestion": IngestionSettings(),
    "knowledge": KnowledgeSettings(),
    "analysis": AnalysisSettings(),
    "review": ReviewSettings(),
}
STREAM = GatewaySettings().stream_name
# What each service publishes: every topic it owns (DESIGN.md §2, issue 12).
OWN_SUBJECTS = {
    "ingestion": ["space.{pid}.messages.message.updated"],
    "knowledge": [
        "space.{pid}.knowledge_extraction.extraction_started",
        "space.{pid}.topics.topic_created",
    ],
    "analysis": ["space.{pid}.analysis_runs.run_started"],
    "review": ["space.{pid}.proposals.approved", "space.{pid}.tasks.task_updated"],
}
# Durable consumers of SPACES: (service, settings field of the durable, filter, producer).
DURABLES = [
    ("knowledge", "messages_durable", "space.*.messages.message.updated", "ingestion"),
    ("analysis", "messages_durable", "space.*.messages.>", "ingestion"),
    ("analysis", "knowledge_durable", "space.*.topics.>", "knowledge"),
    ("analysis", "decisions_durable", "space.*.proposals.>", "review"),
    ("review", "runs_durable", "space.*.analysis_runs.>", "analysis"),
    ("review", "messages_durable", "space.*.messages.message.updated", "ingestion"),
]
_project_ids = itertools.count(1)
# A request the server refuses gets no answer; how long the client waits to find that out.
REFUSED_TIMEOUT = 0.5


class Connection:
    """A client of one deploy user that records what the server refuses it."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.errors: list[str] = []

    async def error_cb(self, error: Exception) -> None:
        self.errors.append(str(error))

    @property
    def nc(self) -> Client:
        assert self.client is not None
        return self.client

    def violations(self) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower()]


@pytest.fixture
async def connect(secured_nats: SecuredNats) -> AsyncIterator[Callable]:
    opened: list[Connection] = []

    async def open_as(user: str, password: str | None = None) -> Connection:
        conn = Connection()
        conn.client = await nats.connect(
            secured_nats.url,
            user=user,
            password=password or secured_nats.passwords[user],
            error_cb=conn.error_cb,
            allow_reconnect=False,
        )
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        await conn.nc.close()


@pytest.fixture
async def space_stream(connect) -> None:
    ingestion = await connect("ingestion")
    await ensure_space_stream(ingestion.nc.jetstream(), GatewaySettings())


def envelope(subject: str) -> bytes:
    return json.dumps({"id": str(uuid.uuid4()), "subject": subject}).encode()


async def last_seq(conn: Connection) -> int:
    return (await conn.nc.jetstream().stream_info(STREAM)).state.last_seq


async def test_a_wrong_password_is_refused(secured_nats: SecuredNats) -> None:
    with pytest.raises(NatsError):
        await nats.connect(
            secured_nats.url,
            user="ingestion",
            password="wrong",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_anonymous_clients_are_refused(secured_nats: SecuredNats) -> None:
    with pytest.raises(NatsError):
        await nats.connect(secured_nats.url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_ingestion_cannot_publish_a_proposal_decision(connect, space_stream) -> None:
    ingestion, gateway = await connect("ingestion"), await connect("gateway")
    before = await last_seq(gateway)
    with pytest.raises(NatsError):
        await ingestion.nc.jetstream().publish(
            "space.1.proposals.approved", envelope("forged"), timeout=REFUSED_TIMEOUT
        )
    await ingestion.nc.flush()
    assert ingestion.violations(), ingestion.errors
    assert "space.1.proposals.approved" in ingestion.violations()[0]
    assert await last_seq(gateway) == before


@pytest.mark.parametrize(
    "subject",
    ["space.1.messages.message.updated", "space.1.proposals.approved", "space.1.analysis_runs.x"],
)
async def test_the_gateway_cannot_publish_on_space(connect, space_stream, subject: str) -> None:
    gateway = await connect("gateway")
    before = await last_seq(gateway)
    with pytest.raises(NatsError):
        await gateway.nc.jetstream().publish(subject, envelope("forged"), timeout=REFUSED_TIMEOUT)
    await gateway.nc.flush()
    assert any(subject in v for v in gateway.violations()), gateway.errors
    assert await last_seq(gateway) == before


@pytest.mark.parametrize("service", list(OWN_SUBJECTS))
async def test_a_service_publishes_its_own_topics_and_no_other(
    connect, space_stream, service: str
) -> None:
    conn = await connect(service)
    js = conn.nc.jetstream()
    pid = next(_project_ids)
    for subject in OWN_SUBJECTS[service]:
        ack = await js.publish(subject.format(pid=pid), envelope(subject), timeout=5)
        assert ack.stream == STREAM
    others = [s for other, subs in OWN_SUBJECTS.items() if other != service for s in subs]
    for subject in others:
        with pytest.raises(NatsError):
            await js.publish(subject.format(pid=pid), envelope(subject), timeout=REFUSED_TIMEOUT)
    await conn.nc.flush()
    assert len(conn.violations()) == len(others), conn.errors


@pytest.mark.parametrize(("service", "field", "filter_subject", "producer"), DURABLES)
async def test_a_service_reads_through_its_own_durable_consumer(
    connect, space_stream, service: str, field: str, filter_subject: str, producer: str
) -> None:
    """Created, fetched and acked as that user, the way its FastStream subscriber does it."""
    durable = getattr(SETTINGS[service], field)
    consumer, publisher = await connect(service), await connect(producer)
    js = consumer.nc.jetstream()
    sub = await js.pull_subscribe(
        filter_subject,
        durable=durable,
        stream=STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    subject = filter_subject.replace("*", str(next(_project_ids))).replace(">", "event")
    body = envelope(subject)
    await publisher.nc.jetstream().publish(subject, body, timeout=5)
    [msg] = await sub.fetch(1, timeout=5)
    assert (msg.subject, msg.data) == (subject, body)
    await msg.ack_sync(timeout=5)
    info = await js.consumer_info(STREAM, durable)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    assert consumer.violations() == []


@pytest.mark.parametrize(("service", "field", "filter_subject", "producer"), DURABLES)
async def test_no_other_user_touches_a_services_durable_consumer(
    connect, space_stream, service: str, field: str, filter_subject: str, producer: str
) -> None:
    durable = getattr(SETTINGS[service], field)
    await (
        (await connect(service))
        .nc.jetstream()
        .add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=filter_subject,
                deliver_policy=DeliverPolicy.NEW,
            ),
        )
    )
    for other in ("gateway", producer):
        js = (await connect(other)).nc.jetstream(timeout=REFUSED_TIMEOUT)
        with pytest.raises(NatsError):
            await js.delete_consumer(STREAM, durable)
        with pytest.raises(NatsError):
            await js.pull_subscribe(filter_subject, durable=durable, stream=STREAM)
    assert (await (await connect(service)).nc.jetstream().consumer_info(STREAM, durable)).name


@pytest.mark.parametrize("service", list(SETTINGS))
async def test_a_services_job_stream_works_as_its_user(
    secured_nats: SecuredNats, service: str
) -> None:
    """servicekit's JobBroker as that user: stream, consumer and dead-letter stream created,
    a job kicked, fetched and acked."""
    settings = SETTINGS[service].model_copy(update={"nats_url": secured_nats.url})
    broker = make_job_broker(
        settings, user=service, password=secured_nats.passwords[service], allow_reconnect=False
    )
    await broker.startup()
    try:
        body = f"job of {service}".encode()
        await broker.kick(
            BrokerMessage(task_id=uuid.uuid4().hex, task_name="t", message=body, labels={})
        )
        [msg] = await broker.consumer.fetch(1, timeout=5)
        assert msg.data == body
        await msg.ack_sync(timeout=5)
        info = await broker.js.stream_info(settings.jobs_stream)
        assert info.state.messages == 0  # a work queue drops an acked job
        assert (await broker.js.stream_info(f"{settings.jobs_stream}_DEAD")).config.name
    finally:
        await broker.shutdown()


async def test_ingestion_uses_its_updates_stream_as_the_webhook_and_the_worker_do(
    connect,
) -> None:
    """The webhook creates the stream and publishes an update; the worker's consumer (a
    durable, as servicekit's BatchConsumer makes it) fetches and acks it. No other user may."""
    settings = SETTINGS["ingestion"]
    assert isinstance(settings, IngestionSettings)
    ingestion = await connect("ingestion")
    js = ingestion.nc.jetstream()
    await ensure_stream(js, updates_stream_config(settings))
    update_id = next(_project_ids)
    await publish_update(ingestion.nc, js, settings, update_id, b'{"update_id": %d}' % update_id)
    options = ConsumerOptions(durable=settings.updates_durable, subject=settings.updates_subject)
    await js.add_consumer(settings.updates_stream, config=options.consumer_config())
    sub = await js.pull_subscribe_bind(settings.updates_durable, stream=settings.updates_stream)
    [msg] = await sub.fetch(1, timeout=5)
    assert msg.headers["Nats-Msg-Id"] == f"telegram-update-{update_id}"
    await msg.ack_sync(timeout=5)
    assert (await js.stream_info(settings.updates_stream)).state.messages == 0
    assert ingestion.violations() == []

    knowledge = await connect("knowledge")
    with pytest.raises(NatsError):
        await knowledge.nc.jetstream(timeout=REFUSED_TIMEOUT).publish(
            settings.updates_subject, b"forged update", timeout=REFUSED_TIMEOUT
        )


@pytest.mark.parametrize("service", list(SETTINGS))
async def test_a_service_cannot_use_another_services_job_stream(connect, service: str) -> None:
    other = SETTINGS[next(s for s in SETTINGS if s != service)]
    conn = await connect(service)
    js = conn.nc.jetstream(timeout=REFUSED_TIMEOUT)
    with pytest.raises(NatsError):
        await js.add_stream(name=other.jobs_stream, subjects=[other.jobs_subject])
    with pytest.raises(NatsError):
        await js.publish(other.jobs_subject, b"forged job", timeout=REFUSED_TIMEOUT)
    await conn.nc.flush()
    assert len(conn.violations()) == 2, conn.errors


async def test_the_gateway_reads_space_live_and_replayed(connect, space_stream) -> None:
    """Its ordered push consumer (live) and an ephemeral pull consumer (replay), as hub.py
    and replay.py make them, then the ephemeral consumer deleted."""
    gateway, ingestion = await connect("gateway"), await connect("ingestion")
    js = gateway.nc.jetstream()
    start = await last_seq(gateway) + 1
    live = await js.subscribe(
        "space.>",
        stream=STREAM,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start),
    )
    subject = f"space.{next(_project_ids)}.messages.message.updated"
    body = envelope(subject)
    await ingestion.nc.jetstream().publish(subject, body, timeout=5)
    msg = await live.next_msg(timeout=5)
    assert (msg.subject, msg.data) == (subject, body)
    replay = await js.pull_subscribe(
        "space.>",
        stream=STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start, ack_policy="none"
        ),
    )
    [again] = await replay.fetch(1, timeout=5)
    assert again.data == body
    name = (await replay.consumer_info()).name
    await replay.unsubscribe()
    assert await js.delete_consumer(STREAM, name)
    await live.unsubscribe()
    assert gateway.violations() == []


def test_the_compose_nats_config_is_valid(secured_nats: SecuredNats) -> None:
    """deploy/nats/nats-server.conf as compose runs it (`-t`: parse and check, don't serve)."""
    env = dict(os.environ)
    env.update({f"NATS_{user.upper()}_PASSWORD": pw for user, pw in secured_nats.passwords.items()})
    config = DEPLOY / "nats" / "nats-server.conf"
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(config)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr
