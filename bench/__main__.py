"""`make bench`: every benchmark with its defaults, one after the other, then one table of
today's figures with the goal of issue 16 next to each (`python -m bench webhook proxy` runs
some; each module also runs alone with its own options: `python -m bench.<name> --help`).

A benchmark that breaks is reported and the others still run; a figure under its goal is
printed as MISSED, never raised.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback

from bench.loadgen import wrk_available
from bench.report import Figure, print_table

BENCHMARKS = [
    "bench.outbox_latency",
    "bench.webhook",
    "bench.proxy",
    "bench.worker",
    "bench.end_to_end",
    "bench.ws_fanout",
    "bench.review_decisions",
    "bench.history_import",
]


def main() -> None:
    selected = sys.argv[1:] or BENCHMARKS
    print(f"load generator: {'wrk' if wrk_available() else 'Python client processes (no wrk)'}")
    print(machine_load())
    figures: list[Figure] = []
    for name in selected:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        print(f"\n== {module.__name__}", flush=True)
        started = time.monotonic()
        try:
            figures += module.main([]) or []
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            short = module.__name__.removeprefix("bench.")
            figures.append(Figure(short, "did not complete (see above)", None, "", "≥ 0"))
        print(f"-- {module.__name__}: {time.monotonic() - started:.0f} s", flush=True)
    print_table(figures)
    print(machine_load())


def machine_load() -> str:
    """The machine's load before and after: on a shared machine the rates move with it (the
    ratios, measured in the same run, and the CPU per request much less)."""
    one, five, fifteen = os.getloadavg()
    return f"machine: {os.cpu_count()} cores, load average {one:.1f} / {five:.1f} / {fifteen:.1f}"


if __name__ == "__main__":
    main()
