"""Settings of the knowledge service, read from `TT_KNOWLEDGE_*` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings


class KnowledgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_KNOWLEDGE_", extra="ignore")

    service_name: str = "knowledge"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_knowledge"
    port: int = 8002
    jobs_stream: str = "TASKS_KNOWLEDGE"
    jobs_subject: str = "tasks.knowledge"
    jobs_durable: str = "knowledge-workers"
