"""`tasktracker-dev run` — the local stack behind `make run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="tasktracker-dev")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start infrastructure, every service, and a demo project")
    args = parser.parse_args()
    if args.command == "run":
        from tasktracker.devstack.run import run

        sys.exit(run(Path.cwd()))
