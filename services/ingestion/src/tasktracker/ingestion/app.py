"""The ingestion service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    settings = settings or IngestionSettings()
    runtime = ServiceRuntime(settings)
    return service_app("Task Tracker ingestion", runtime)
