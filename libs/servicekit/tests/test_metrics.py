"""Metrics of the shared machinery, scraped over real HTTP and parsed with
`prometheus_client.parser`: each sample changes after the real action it counts (a request,
a job try, an outbox publish, a consumed event, an agent run)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tasktracker.devstack.embedded import free_port
from tasktracker.servicekit import db
from tasktracker.servicekit.consumers import BatchConsumer, EventConsumers
from tasktracker.servicekit.job_errors import PermanentJobError
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.llm import rules_model, run_agent
from tasktracker.servicekit.metrics import HttpMetrics, metrics_endpoint, serve_worker_metrics
from tasktracker.servicekit.relay import OutboxRelay
from tests.fixtures.clients import asgi_client
from tests.fixtures.metrics import Scrape, scrape

from .jobs_support import job_settings, running_worker, wait_until
from .test_consumers import Notes, options, publish, stored
from .test_outbox_relay import stage_note


@pytest.fixture(scope="module")
def metrics_url() -> str:
    """The worker's metrics server (`serve_worker_metrics`), serving this process's registry."""
    port = free_port()
    assert serve_worker_metrics(port, "127.0.0.1")
    return f"http://127.0.0.1:{port}/metrics"


async def scraped(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        return await scrape(client, url)


async def test_job_tries_are_counted_by_outcome(nats_url, session_id, metrics_url):
    settings = job_settings(
        nats_url,
        f"metrics_{session_id}",
        job_max_retries=3,
        job_retry_delay_seconds=0.1,
        service_name="kit",
    )
    broker = make_job_broker(settings)
    flaky_tries: list[int] = []
    doomed_tries: list[int] = []

    @broker.task(task_name="flaky_metrics")
    async def flaky() -> None:
        flaky_tries.append(1)
        if len(flaky_tries) < 2:
            raise RuntimeError("not yet")

    @broker.task(task_name="doomed_metrics")
    async def doomed() -> None:
        doomed_tries.append(1)
        raise PermanentJobError("never")

    before = await scraped(metrics_url)
    async with running_worker(broker):
        await flaky.kiq()
        await doomed.kiq()
        await wait_until(lambda: len(flaky_tries) == 2 and len(doomed_tries) == 1)
        after = await scraped(metrics_url)
        for _ in range(100):  # the last try's outcome is counted once its middleware ran
            if after.value("tt_jobs_total", task="flaky_metrics", outcome="succeeded") - (
                before.value("tt_jobs_total", task="flaky_metrics", outcome="succeeded")
            ) and after.value("tt_jobs_total", task="doomed_metrics", outcome="parked"):
                break
            await asyncio.sleep(0.05)
            after = await scraped(metrics_url)

    def delta(task: str, outcome: str) -> float:
        labels = {"service": "kit", "task": task, "outcome": outcome}
        return after.value("tt_jobs_total", **labels) - before.value("tt_jobs_total", **labels)

    assert delta("flaky_metrics", "started") == 2
    assert delta("flaky_metrics", "failed") == 1
    assert delta("flaky_metrics", "retried") == 1
    assert delta("flaky_metrics", "succeeded") == 1
    assert delta("flaky_metrics", "parked") == 0
    assert delta("doomed_metrics", "started") == 1
    assert delta("doomed_metrics", "parked") == 1
    assert delta("doomed_metrics", "retried") == 0
    duration = after.value("tt_job_duration_seconds_count", task="flaky_metrics")
    assert duration - before.value("tt_job_duration_seconds_count", task="flaky_metrics") == 2


async def test_outbox_waiting_rows_and_relay_publishes(engine, js, kit_db_url, project_ids):
    pid = next(project_ids)
    relay = OutboxRelay(database_url=kit_db_url, js=js, service="kit-relay")
    for body in ("one", "two", "three"):
        await stage_note(engine, pid, body)
    conn = await asyncpg.connect(db.asyncpg_dsn(kit_db_url))
    try:
        await relay.sample_waiting(conn, now=True)
        before = await _registry_scrape()
        assert before.value("tt_outbox_waiting_rows", service="kit-relay") == 3
        assert before.value("tt_outbox_oldest_waiting_seconds", service="kit-relay") >= 0
        assert await relay.publish_pending(conn) == 3
        await relay.sample_waiting(conn, now=True)
    finally:
        await conn.close()
    after = await _registry_scrape()
    assert after.value("tt_outbox_waiting_rows", service="kit-relay") == 0
    assert after.value("tt_outbox_oldest_waiting_seconds", service="kit-relay") == 0
    for name, change in (
        ("tt_relay_published_events_total", 3),
        ("tt_relay_publish_duration_seconds_count", 1),  # one pipelined batch
    ):
        assert after.value(name, service="kit-relay") - before.value(name, service="kit-relay") == (
            change
        )


async def test_consumed_events_and_consumer_lag(engine, js, nats_url, session_id, project_ids):
    pid = next(project_ids)
    opts = options(session_id, pid, durable=f"kit-metrics-{session_id}")
    await publish(js, pid, [11, 12, 13])
    before = await _registry_scrape()
    handler = Notes()
    consumer = BatchConsumer("SPACES", opts, handler, db.session_factory(engine))
    consumers = EventConsumers(nats_url, "kit-metrics", [consumer], lag_sample_seconds=0.1)
    await consumers.start()
    try:
        async with asyncio.timeout(30):
            while not {11, 12, 13} <= await stored(engine):
                await asyncio.sleep(0.05)
        assert consumers.lag is not None
        await consumers.lag.sample()
    finally:
        await consumers.stop()
    after = await _registry_scrape()
    events = "tt_consumer_events_total"
    labels = {"consumer": opts.durable, "outcome": "stored"}
    assert after.value(events, **labels) - before.value(events, **labels) == 3
    lag = {"stream": "SPACES", "consumer": opts.durable}
    assert after.has("tt_jetstream_consumer_pending_messages", **lag)
    assert after.value("tt_jetstream_consumer_pending_messages", **lag) == 0
    assert after.value("tt_jetstream_consumer_ack_pending_messages", **lag) == 0
    assert after.value("tt_consumer_batch_duration_seconds_count", consumer=opts.durable) >= 1


async def test_http_requests_are_labelled_by_route_template_never_the_raw_path():
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.add_api_route("/metrics", metrics_endpoint)
    app.add_middleware(HttpMetrics, service="kit-http")
    async with asgi_client(app) as client:
        before = await scrape(client)
        for thing_id in (1, 2, 3):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/things/not-a-number")).status_code == 422
        assert (await client.get("/nowhere/12345")).status_code == 404
        after = await scrape(client)

    def delta(**labels: str) -> float:
        name = "tt_http_requests_total"
        return after.value(name, service="kit-http", **labels) - before.value(
            name, service="kit-http", **labels
        )

    assert delta(route="/things/{thing_id}", method="GET", status="200") == 3
    assert delta(route="/things/{thing_id}", status="422") == 1
    assert delta(route="unmatched", status="404") == 1
    routes = after.label_values("tt_http_requests_total", "route")
    assert not any(route.startswith(("/things/1", "/nowhere")) for route in routes)
    histogram = "tt_http_request_duration_seconds_count"
    assert after.value(histogram, service="kit-http", route="/things/{thing_id}") >= 4


class Answer(BaseModel):
    words: int


async def test_agent_runs_tokens_and_failures_are_counted_by_model():
    agent = Agent(
        rules_model("kit-rules", lambda p: Answer(words=len(p.split()))), output_type=Answer
    )

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model is down")

    failing = Agent(FunctionModel(broken, model_name="kit-broken"), output_type=Answer)
    before = await _registry_scrape()
    assert (await run_agent(agent, "three short words")).output.words == 3
    with pytest.raises(RuntimeError):
        await run_agent(failing, "anything")
    after = await _registry_scrape()

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("tt_llm_requests_total", model="kit-rules", outcome="ok") == 1
    assert delta("tt_llm_tokens_total", model="kit-rules", kind="input") > 0
    assert delta("tt_llm_tokens_total", model="kit-rules", kind="output") > 0
    assert delta("tt_llm_request_duration_seconds_count", model="kit-rules") == 1
    assert delta("tt_llm_requests_total", model="kit-broken", outcome="error") == 1


async def _registry_scrape() -> Scrape:
    """The process's registry as `/metrics` serves it (`metrics_endpoint`)."""
    response = await metrics_endpoint(None)  # type: ignore[arg-type]
    return Scrape.parse(bytes(response.body).decode())
