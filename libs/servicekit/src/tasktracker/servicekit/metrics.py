"""Prometheus metrics every service and worker shares (`prometheus_client`, default registry).

Each process is one Python process (uvicorn without `--workers`; a taskiq worker process per
`--workers`), so the default registry is the process's and no multiprocess mode is needed.
APIs serve `/metrics` on their own port; a worker serves it on `metrics_port` of its settings
(`serve_worker_metrics`).

HTTP requests are labelled by the route template FastAPI matched (`/api/projects/{project_id}
/runs`), never by the raw path, so a scan of random URLs cannot grow the label set; a request
no route matched is `unmatched`.

Every other family is defined here too, so that names and labels are one definition: the
dashboard and alert rules in `deploy/observability/` are checked against this module.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# Latency buckets for requests and jobs: 5 ms to 10 min.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600)

HTTP_REQUESTS = Counter(
    "tt_http_requests",
    "HTTP requests served, by service, route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "tt_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["service", "route", "method"],
    buckets=LATENCY_BUCKETS,
)

JOBS = Counter(
    "tt_jobs",
    "Jobs by outcome: started, succeeded, failed (a try), retried, parked, waited (an outage).",
    ["service", "task", "outcome"],
)
JOB_DURATION = Histogram(
    "tt_job_duration_seconds",
    "Time one try of a job ran, success or not.",
    ["service", "task"],
    buckets=LATENCY_BUCKETS,
)

RUNS_FINISHED = Counter(
    "tt_runs_finished",
    "Long jobs' units of work (analysis runs, extractions) by the status a try left them in.",
    ["service", "kind", "status"],
)

CONSUMER_PENDING = Gauge(
    "tt_jetstream_consumer_pending_messages",
    "Messages of the stream not yet delivered to the durable consumer (num_pending).",
    ["stream", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "tt_jetstream_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acknowledged (num_ack_pending).",
    ["stream", "consumer"],
)
CONSUMED_EVENTS = Counter(
    "tt_consumer_events",
    "Messages a batch consumer handled: stored, skipped (not wanted or invalid), retried, poison.",
    ["consumer", "outcome"],
)
CONSUMER_BATCH_DURATION = Histogram(
    "tt_consumer_batch_duration_seconds",
    "Time to store one fetched batch of events (one transaction).",
    ["consumer"],
    buckets=LATENCY_BUCKETS,
)

OUTBOX_WAITING = Gauge(
    "tt_outbox_waiting_rows",
    "Outbox rows not yet published (sampled by the relay).",
    ["service"],
)
OUTBOX_OLDEST = Gauge(
    "tt_outbox_oldest_waiting_seconds",
    "Age of the oldest unpublished outbox row, 0 when none waits (sampled by the relay).",
    ["service"],
)
RELAY_PUBLISHED = Counter(
    "tt_relay_published_events", "Outbox rows the relay published.", ["service"]
)
RELAY_FAILURES = Counter(
    "tt_relay_publish_failures",
    "Outbox publishes that failed: retried (NATS away) or permanent (row marked failed).",
    ["service", "kind"],
)
RELAY_PUBLISH_DURATION = Histogram(
    "tt_relay_publish_duration_seconds",
    "Time from sending a batch of outbox rows to its last PubAck.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

LLM_REQUESTS = Counter(
    "tt_llm_requests", "Agent runs of an LLM step, by model and outcome.", ["model", "outcome"]
)
LLM_TOKENS = Counter(
    "tt_llm_tokens", "Tokens of LLM calls, by model and kind (input, output).", ["model", "kind"]
)
LLM_DURATION = Histogram(
    "tt_llm_request_duration_seconds",
    "Time of one agent run (every model request and retry in it).",
    ["model"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

UNMATCHED_ROUTE = "unmatched"
# Set in a request's scope by an inner app that counted the request itself (the gateway's proxy).
COUNTED = "tt.metrics.counted"


class HttpMetrics:
    """ASGI middleware: a count and a latency per request, by the matched route template.

    FastAPI's router writes the matched route into the request's scope (`scope["route"]`),
    which this middleware reads once the app has answered."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            if not scope.get(COUNTED):
                route = scope.get("route")
                template = getattr(route, "path", None) or UNMATCHED_ROUTE
                count_request(self.service, template, scope["method"], status, started)


def count_request(service: str, route: str, method: str, status: int, started: float) -> None:
    """One request in `tt_http_requests_total` and its time since `started` (perf_counter)."""
    requests, duration = _request_series(service, route, method, status)
    requests.inc()
    duration.observe(time.perf_counter() - started)


@functools.cache
def _request_series(service: str, route: str, method: str, status: int) -> tuple[Any, Any]:
    """Both children of one request's label set, found with one lookup per request."""
    return (
        HTTP_REQUESTS.labels(service, route, method, str(status)),
        HTTP_DURATION.labels(service, route, method),
    )


@functools.cache
def series(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once per label set: `labels()` validates and locks on
    every call (4% of a proxied request, a visible share of a worker's job). For metrics on a
    hot path whose label sets are few."""
    return metric.labels(*labels)


def exposition(*registries: CollectorRegistry) -> Response:
    """The registries' samples in the Prometheus text format (default: the process's)."""
    body = b"".join(generate_latest(registry) for registry in registries or (REGISTRY,))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def metrics_endpoint(request: Request) -> Response:
    return exposition()


def serve_worker_metrics(port: int, host: str) -> bool:
    """Serve the process's registry on `port` (a worker has no HTTP server of its own).
    False, logged, when the port is taken (e.g. a second worker process on one host)."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics not served: port %d: %s", port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True


def observe_since(histogram: Histogram, started: float, *labels: str) -> None:
    histogram.labels(*labels).observe(time.perf_counter() - started)


_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "gauge": ("",),
}


def sample_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every sample name the registry's families expose, used or not yet (`_total`,
    `_bucket`…): for checks that a dashboard or alert names only metrics that exist."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
