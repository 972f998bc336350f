"""servicekit.tracing: nothing at all while off; with it on, a batch's span continues its
first item's trace and links every item's (in-memory exporter)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
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
