"""`make bench`: every benchmark with its defaults, one after the other
(`python -m bench webhook` runs one; each module also runs alone with its own options)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["bench.outbox_latency", "bench.webhook", "bench.ws_fanout"]


def main() -> None:
    selected = sys.argv[1:] or BENCHMARKS
    for name in selected:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        print(f"== {module.__name__}")
        module.main([])


if __name__ == "__main__":
    main()
