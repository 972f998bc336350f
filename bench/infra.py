"""Benchmarks run against real servers: TT_BENCH_* URLs when set, else embedded ones."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tasktracker.devstack.infra import Infra, infrastructure


@contextlib.contextmanager
def bench_infra() -> Iterator[Infra]:
    with (
        tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp,
        infrastructure(
            nats_url=os.environ.get("TT_BENCH_NATS_URL"),
            postgres_url=os.environ.get("TT_BENCH_DATABASE_URL"),
            data_dir=Path(tmp),
            keep_data=False,
            allow_containers=False,
        ) as infra,
    ):
        yield infra


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


IO_PRESSURE = Path("/proc/pressure/io")


def io_stalled_seconds(pressure: Path = IO_PRESSURE) -> float | None:
    """How long, since boot, every runnable task of the machine waited on disk I/O at once
    (Linux's pressure stall information, the `full` line); None without PSI."""
    try:
        text = pressure.read_text()
    except OSError:
        return None
    return parse_full_stall(text)


def parse_full_stall(text: str) -> float | None:
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "full":
            values = dict(field.split("=", 1) for field in fields)
            return int(values["total"]) / 1e6  # microseconds
    return None
