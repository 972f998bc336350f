"""`tasktracker-analysis api|migrate|worker`."""

from __future__ import annotations

import sys
from pathlib import Path

from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit.cli import service_cli


def main() -> None:
    sys.exit(
        service_cli(
            prog="tasktracker-analysis",
            settings_factory=AnalysisSettings,
            app_factory="tasktracker.analysis.app:create_app",
            migrations=Path(__file__).with_name("migrations"),
            worker_broker="tasktracker.analysis.worker:broker",
        )
    )
