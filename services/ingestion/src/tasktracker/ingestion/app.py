"""The ingestion service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from tasktracker.ingestion.routes import (
    bindings,
    imports,
    messages,
    parked,
    projects,
    sources,
    webhook,
)
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.updates import updates_stream_config
from tasktracker.servicekit.app import service_app
from tasktracker.servicekit.jobs import make_job_broker
from tasktracker.servicekit.runtime import ServiceRuntime


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    """Refuses to build without a webhook secret unless `webhook_open` is set."""
    settings = settings or IngestionSettings()
    settings.require_webhook_secret()
    # The API only kicks jobs on this broker; `tasktracker-ingestion worker` runs them. The
    # webhook publishes updates to their stream on the runtime's NATS connection.
    # Ready without PostgreSQL: the webhook, which must keep taking Telegram's updates through
    # a database outage, needs only NATS; /readyz still reports the database.
    job_broker = make_job_broker(settings, publish_timeout=settings.webhook_enqueue_timeout_seconds)
    runtime = ServiceRuntime(
        settings,
        job_broker=job_broker,
        database_required=False,
        streams=[updates_stream_config(settings)],
    )
    app = service_app(
        "Task Tracker ingestion",
        runtime,
        routers=[
            webhook.router,
            projects.router,
            sources.router,
            messages.router,
            parked.router,
            bindings.router,
            imports.router,
        ],
        # Telegram does not come through the gateway: the webhook checks its own secret.
        open_paths=["/webhook/telegram"],
        direct_routes=webhook.router.routes,
    )
    return app
