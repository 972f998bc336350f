"""Settings of the ingestion service, read from `TT_INGESTION_*` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings


class IngestionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_INGESTION_", extra="ignore")

    service_name: str = "ingestion"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_ingestion"
    port: int = 8001
    jobs_stream: str = "TASKS_INGESTION"
    jobs_subject: str = "tasks.ingestion"
    jobs_durable: str = "ingestion-workers"
