"""`tasktracker-ingestion api|migrate|worker|requeue-parked`, and `import FILE --project ID`
(`import_cli.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.cli import service_cli


def main() -> None:
    if sys.argv[1:2] == ["import"]:
        from tasktracker.ingestion.import_cli import main as import_main

        sys.exit(import_main(sys.argv[2:]))
    sys.exit(
        service_cli(
            prog="tasktracker-ingestion",
            settings_factory=IngestionSettings,
            app_factory="tasktracker.ingestion.app:create_app",
            migrations=Path(__file__).with_name("migrations"),
            worker_broker="tasktracker.ingestion.worker:broker",
        )
    )
