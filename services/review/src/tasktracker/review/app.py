"""The review service's HTTP app: the API, the outbox relay and the event consumers."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.review.consumer import build_consumers
from tasktracker.review.routes import proposals, tasks
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: ReviewSettings | None = None) -> FastAPI:
    settings = settings or ReviewSettings()
    runtime = ServiceRuntime(settings)
    runtime.event_broker = build_consumers(settings, runtime)
    app = service_app("Task Tracker review", runtime, routers=[proposals.router, tasks.router])
    app.state.settings = settings
    return app
