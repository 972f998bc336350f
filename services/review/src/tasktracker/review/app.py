"""The review service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: ReviewSettings | None = None) -> FastAPI:
    settings = settings or ReviewSettings()
    runtime = ServiceRuntime(settings)
    return service_app("Task Tracker review", runtime)
