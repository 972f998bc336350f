"""Traces of an analysis run (issue 17): a span per batch, pydantic-ai's agent run and model
call spans under it, and the batch's events carrying the batch's trace context. Spans go to
an in-memory exporter; the run is a real one over PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tasktracker.analysis.agent import build_agent, offline_task_rules_model
from tasktracker.analysis.execute import Executor
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.servicekit import tracing

from .support import seed, staged_events
from .test_execution import started


@pytest.fixture
def exported(client) -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test. After `client`: the session's app is built untraced."""
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("analysis", None, processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.turn_off()  # the rest of the session runs untraced again
        exporter.shutdown()  # and keeps nothing of an agent that was built traced


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_a_run_traces_each_batch_and_its_llm_call(
    client, sessions, settings, project_ids, exported
):
    project = next(project_ids)
    await seed(sessions, project, 12, gap_every=5)  # batches of 5, 5, 2
    run_id = await started(client, project)
    executor = Executor(
        sessions=sessions,
        agent=build_agent(settings, offline_task_rules_model()),  # built with tracing on
        limiter=RequestsPerMinute(None),
    )
    with tracing.span("execute/execute_analysis_run") as job:
        assert await executor.run(run_id, last_try=False) == "completed"

    spans = exported.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    batches = [s for s in spans if s.name == "analysis batch"]
    assert sorted(s.attributes["tt.batch.index"] for s in batches) == [0, 1, 2]
    assert {s.context.trace_id for s in batches} == {job.get_span_context().trace_id}
    assert all(s.parent.span_id == job.get_span_context().span_id for s in batches)

    # pydantic-ai's spans: the agent run under its batch, the model call under the agent run
    agent_runs = [s for s in spans if s.name == "invoke_agent analysis-tasks"]
    model_calls = [s for s in spans if s.name == "chat offline-task-rules"]
    assert len(agent_runs) == len(model_calls) == 3
    assert all(_ancestors(s, by_id)[0] == "analysis batch" for s in agent_runs)
    assert all(
        _ancestors(s, by_id)[:2] == [a.name, "analysis batch"]
        for s in model_calls
        for a in agent_runs[:1]
    )
    # no chat text in the spans: prompts and answers stay out of the trace backend
    values = [str(v) for s in [*agent_runs, *model_calls] for v in s.attributes.values()]
    assert not any("Please fix bug" in value for value in values)

    # each batch's proposals_created event continues that batch's span
    batch_of_span = {s.context.span_id: s.attributes["tt.batch.index"] for s in batches}
    for event in await staged_events(sessions, run_id):
        if event.type == "proposals_created":
            traceparent = event.trace_context["traceparent"]
            span_id = int(traceparent.split("-")[2], 16)
            assert batch_of_span[span_id] == event.data["batch_index"]
