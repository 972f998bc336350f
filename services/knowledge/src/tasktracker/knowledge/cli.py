"""`tasktracker-knowledge api|migrate|worker`."""

from __future__ import annotations

import sys
from pathlib import Path

from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.cli import service_cli


def main() -> None:
    sys.exit(
        service_cli(
            prog="tasktracker-knowledge",
            settings_factory=KnowledgeSettings,
            app_factory="tasktracker.knowledge.app:create_app",
            migrations=Path(__file__).with_name("migrations"),
            worker_broker="tasktracker.knowledge.worker:broker",
        )
    )
