"""Settings of the review service, read from `TT_REVIEW_*` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_REVIEW_", extra="ignore")

    service_name: str = "review"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_review"
    port: int = 8004
    jobs_stream: str = "TASKS_REVIEW"
    jobs_subject: str = "tasks.review"
    jobs_durable: str = "review-workers"
