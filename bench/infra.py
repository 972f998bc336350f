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
