"""The knowledge service's HTTP app: the API, the outbox relay and the read model's consumer."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.knowledge.consumer import build_consumers
from tasktracker.knowledge.routes import extractions, knowledge, proposals
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: KnowledgeSettings | None = None) -> FastAPI:
    settings = settings or KnowledgeSettings()
    runtime = ServiceRuntime(settings, job_broker=make_job_broker(settings))
    runtime.event_broker = build_consumers(settings, runtime)
    app = service_app(
        "Task Tracker knowledge",
        runtime,
        routers=[extractions.router, proposals.router, knowledge.router],
    )
    app.state.settings = settings
    return app
