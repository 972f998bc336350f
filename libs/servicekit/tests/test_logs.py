"""Log lines: JSON in production with service, trace id and the bound ids; plain in dev; ids
bound in one task never reach another's lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from tasktracker.servicekit.logs import bind_log_context, configure_logging, log_context


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_service_trace_id_and_bound_ids(restore_root):
    out = io.StringIO()
    configure_logging("INFO", "json", "ingestion", stream=out)
    log = logging.getLogger("tasktracker.test")
    with log_context(project_id=7, run_id="r-1"):
        log.info("run %s started", "r-1")
    log.info("outside")
    log.debug("not at INFO")
    first, second = (json.loads(line) for line in lines(out))
    assert first["message"] == "run r-1 started"
    assert first["level"] == "INFO"
    assert first["logger"] == "tasktracker.test"
    assert first["service"] == "ingestion"
    assert "trace_id" in first  # None unless an OpenTelemetry span is current
    assert first["project_id"] == 7
    assert first["run_id"] == "r-1"
    assert "project_id" not in second
    assert "time" in first


def test_exceptions_stay_inside_the_json_line(restore_root):
    out = io.StringIO()
    configure_logging("INFO", "json", "knowledge", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    [line] = lines(out)
    record = json.loads(line)
    assert "ValueError: boom" in record["exc_info"]


def test_plain_lines_for_development(restore_root):
    out = io.StringIO()
    configure_logging("INFO", "plain", "review", stream=out)
    with log_context(project_id=3):
        logging.getLogger("tasktracker.review").info("decided")
    [line] = lines(out)
    assert line.endswith("INFO tasktracker.review: decided [project_id=3]")


async def test_ids_bound_in_one_task_stay_in_it(restore_root):
    out = io.StringIO()
    configure_logging("INFO", "json", "analysis", stream=out)
    log = logging.getLogger("tasktracker.analysis")
    both_bound = asyncio.Barrier(2)

    async def job(project_id: int) -> None:
        bind_log_context(project_id=project_id)
        await both_bound.wait()
        log.info("working")

    await asyncio.gather(job(1), job(2))
    log.info("after")
    records = [json.loads(line) for line in lines(out)]
    assert sorted(r.get("project_id") for r in records[:2]) == [1, 2]
    assert "project_id" not in records[2]
