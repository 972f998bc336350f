"""OpenTelemetry traces across every hop, off unless an OTLP endpoint is configured.

`configure_tracing(service, endpoint)` is called once by the command that starts a process
(`api`, the worker's startup event); with no endpoint it does nothing at all, the global
tracer stays OpenTelemetry's no-op one, and every hook below returns after one check of
`enabled()` — the hot paths (relay, consumers, the gateway's fan-out and proxy) pay nothing
else. With an endpoint the SDK exports spans in batches over OTLP/HTTP (protobuf).

How a trace travels (W3C trace context, `traceparent`/`tracestate`):

* HTTP: the gateway's proxy continues an incoming `traceparent` or starts the trace, and
  forwards it to the upstream, whose FastAPI instrumentation continues it.
* Jobs: taskiq's OpenTelemetry middleware puts the context into the job's labels, which
  `JobBroker.kick` sends as NATS headers; the worker continues it.
* Events: `Outbox.stage` writes the current context into the envelope (`trace_context`), in
  the state change's transaction, so the relay, the consumers and the gateway continue the
  trace of whatever caused the event — also when it is published or replayed much later.
* A batch (group commit, a consumer's fetch) is one span, the child of its first item's
  context and linked to every item's, the OpenTelemetry convention for batch processing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanKind

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

__all__ = [
    "FASTAPI_TELEMETRY",
    "SpanKind",
    "batch_span",
    "configure_tracing",
    "current_carrier",
    "enabled",
    "span",
    "turn_off",
]

log = logging.getLogger(__name__)

TRACER_NAME = "tasktracker"
Carrier = dict[str, str]

_enabled = False
_provider: TracerProvider | None = None

# `FastAPI(telemetry=…)` for every app: its own OpenTelemetry instrumentation off. Spans come
# from `instrument_app` below and metrics from prometheus (`metrics`); FastAPI's would also
# look the global providers up on every request to find out whether any is installed:
# 3 % of the webhook's CPU in a py-spy profile, with tracing off.
FASTAPI_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}


def enabled() -> bool:
    return _enabled


def configure_tracing(
    service_name: str,
    endpoint: str | None,
    *,
    processor: SpanProcessor | None = None,
    **resource: str,
) -> bool:
    """Turn tracing on, exporting to `endpoint` (OTLP/HTTP, e.g. `http://collector:4318`;
    `/v1/traces` is appended when missing) and/or into `processor` (tests: an in-memory
    exporter). Once per process: a later call only adds its processor. With neither, tracing
    stays off. Returns whether tracing is on."""
    global _enabled, _provider
    if not endpoint and processor is None:
        return _enabled
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": service_name, **resource})
        )
        trace.set_tracer_provider(_provider)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        log.info("tracing on: %s exports spans to %s", service_name, url)
    if processor is not None:
        _provider.add_span_processor(processor)
    _enabled = True
    return True


def turn_off() -> None:
    """Stop making spans (the hooks return at once again); the provider stays installed."""
    global _enabled
    _enabled = False


def instrument_app(app: Any) -> None:
    """A server span per request of a service's FastAPI app, continuing the caller's
    `traceparent` (the gateway's); nothing with tracing off. Probes are left out."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,livez,metrics")


def job_middleware() -> Any:
    """taskiq's own OpenTelemetry middleware: a span for each kick (its context goes into the
    job's labels) and one for each run, continuing the kicker's trace."""
    from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_carrier() -> Carrier | None:
    """The current trace context as W3C headers, or None (tracing off, or no span)."""
    if not _enabled:
        return None
    carrier: Carrier = {}
    inject(carrier)
    return carrier or None


def context_of(carrier: Mapping[str, str] | None) -> otel_context.Context | None:
    return extract(carrier) if carrier else None


@contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, str] | None = None,
    links: Iterable[Mapping[str, str] | None] = (),
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A span, current inside the block, child of `parent` (W3C headers) when given, else of
    the current span; `links` to other contexts. Yields None, at no cost, with tracing off."""
    if not _enabled:
        yield None
        return
    context = context_of(parent)
    with tracer().start_as_current_span(
        name,
        context=context,
        kind=kind,
        links=_links(links),
        attributes=dict(attributes or {}),
    ) as current:
        yield current


@contextmanager
def batch_span(
    name: str,
    carriers: Iterable[Mapping[str, str] | None],
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """One span for a batch: child of its first traced item, linked to all traced items."""
    if not _enabled:
        yield None
        return
    traced = [carrier for carrier in carriers if carrier]
    with span(
        name,
        parent=traced[0] if traced else None,
        links=traced,
        kind=kind,
        attributes={"batch.size": len(traced), **(attributes or {})},
    ) as current:
        yield current


def _links(carriers: Iterable[Mapping[str, str] | None]) -> list[Link]:
    links = []
    for carrier in carriers:
        if carrier:
            span_context = trace.get_current_span(extract(carrier)).get_span_context()
            if span_context.is_valid:
                links.append(Link(span_context))
    return links
