"""The analysis service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    settings = settings or AnalysisSettings()
    runtime = ServiceRuntime(settings)
    return service_app("Task Tracker analysis", runtime)
