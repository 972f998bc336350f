"""`tasktracker-ingestion api|migrate|worker`."""

from __future__ import annotations

import sys
from pathlib import Path

from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.cli import service_cli


def main() -> None:
    sys.exit(
        service_cli(
            prog="tasktracker-ingestion",
            settings_factory=IngestionSettings,
            app_factory="tasktracker.ingestion.app:create_app",
            migrations=Path(__file__).with_name("migrations"),
            worker_broker="tasktracker.ingestion.worker:broker",
        )
    )
