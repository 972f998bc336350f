"""The knowledge service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: KnowledgeSettings | None = None) -> FastAPI:
    settings = settings or KnowledgeSettings()
    runtime = ServiceRuntime(settings)
    return service_app("Task Tracker knowledge", runtime)
