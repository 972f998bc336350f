"""Settings of the review service, read from `TT_REVIEW_*` environment variables."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tasktracker.review.domain.similarity import DEFAULT_THRESHOLD
from tasktracker.servicekit.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_REVIEW_", extra="ignore")

    service_name: str = "review"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_review"
    port: int = 8004
    jobs_stream: str = "TASKS_REVIEW"
    jobs_subject: str = "tasks.review"
    jobs_durable: str = "review-workers"

    # servicekit's BatchConsumer: durable pull consumers of `space.*.analysis_runs.>`
    # (proposals_created, run_closed) and `space.*.messages.message.updated` (the source
    # texts), a batch per fetch, one transaction per batch.
    runs_durable: str = "review-runs"
    messages_durable: str = "review-messages"
    events_batch_size: int = Field(default=500, ge=1, le=5000)
    events_batch_timeout_seconds: float = Field(default=0.2, gt=0)
    # After a fetch short of a batch the message consumer waits this long and takes what
    # arrived meanwhile, so a steady flow costs a transaction per linger, not per handful of
    # events (0: store each fetch at once). A lone event waits the linger plus the fetch wait.
    messages_linger_seconds: float = Field(default=0.2, ge=0, le=5)
    # An event not acknowledged this long after delivery is delivered again.
    events_ack_wait_seconds: float = Field(default=30, gt=0)
    # While the database is away a batch is handed back after a delay doubling up to the max.
    events_outage_delay_seconds: float = Field(default=0.5, gt=0)
    events_outage_max_delay_seconds: float = Field(default=15, gt=0)
    # A consumer created with this set starts at this time instead of the stream's first
    # event (tests on a shared stream; a deployment that needs no older source texts).
    events_since: datetime | None = None

    # Merge suggestions (domain/similarity.py): the score (0-100) from which an open task or
    # an earlier proposal of the run is suggested, and how many of the project's most recent
    # open tasks are compared.
    similarity_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=100)
    similarity_max_tasks: int = Field(default=5000, ge=0)
