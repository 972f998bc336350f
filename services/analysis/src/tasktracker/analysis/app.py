"""The analysis service's HTTP app: the runs API, the outbox relay and the read models'
consumers."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.analysis.consumer import build_consumers
from tasktracker.analysis.routes import runs
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    settings = settings or AnalysisSettings()
    runtime = ServiceRuntime(settings, job_broker=make_job_broker(settings))
    runtime.event_broker = build_consumers(settings, runtime)
    app = service_app("Task Tracker analysis", runtime, routers=[runs.router])
    app.state.settings = settings
    return app
