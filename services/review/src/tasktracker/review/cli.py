"""`tasktracker-review api|migrate`."""

from __future__ import annotations

import sys
from pathlib import Path

from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.cli import service_cli


def main() -> None:
    sys.exit(
        service_cli(
            prog="tasktracker-review",
            settings_factory=ReviewSettings,
            app_factory="tasktracker.review.app:create_app",
            migrations=Path(__file__).with_name("migrations"),
        )
    )
