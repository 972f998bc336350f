"""servicekit.tracing: nothing at all while off; with it on, a batch's span continues its
first item's trace and links every item's (in-memory exporter)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tasktracker.servicekit import tracing


def test_off_by_default_makes_no_span_and_no_context() -> None:
    assert not tracing.enabled()
    assert tracing.configure_tracing("svc", None) is False  # no endpoint: stays off
    with tracing.span("anything") as span:
        assert span is None
        assert tracing.current_carrier() is None
    with tracing.batch_span("batch", [{"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}]):
        assert tracing.current_carrier() is None


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("svc", None, processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.turn_off()
        exporter.shutdown()


def test_a_batch_continues_its_first_item_and_links_the_others(exported) -> None:
    carriers = []
    for n in range(3):
        with tracing.span(f"job {n}"):
            carriers.append(tracing.current_carrier())
    with tracing.batch_span("write batch", [carriers[0], None, carriers[1], carriers[2]]):
        inner = tracing.current_carrier()
    spans = {s.name: s for s in exported.get_finished_spans()}
    batch, first = spans["write batch"], spans["job 0"]
    assert batch.parent.span_id == first.context.span_id
    assert batch.context.trace_id == first.context.trace_id
    assert [link.context.span_id for link in batch.links] == [
        spans[f"job {n}"].context.span_id for n in range(3)
    ]
    assert batch.attributes["batch.size"] == 3
    # what is staged inside the batch carries the batch's span
    assert inner["traceparent"].split("-")[2] == format(batch.context.span_id, "016x")


async def test_an_app_request_is_one_server_span_continuing_the_callers_trace(exported) -> None:
    """With FastAPI's own instrumentation off (`FASTAPI_TELEMETRY`), `instrument_app` still
    makes the request's server span, in the caller's trace."""
    app = FastAPI(telemetry=tracing.FASTAPI_TELEMETRY)

    @app.get("/things")
    async def things() -> dict[str, int]:
        return {"count": 1}

    tracing.instrument_app(app)
    caller_trace, caller_span = "3" * 32, "4" * 16
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = await client.get(
            "/things", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"}
        )
    assert answer.json() == {"count": 1}
    servers = [s for s in exported.get_finished_spans() if s.kind == tracing.SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /things"]
    assert format(servers[0].context.trace_id, "032x") == caller_trace
    assert format(servers[0].parent.span_id, "016x") == caller_span
