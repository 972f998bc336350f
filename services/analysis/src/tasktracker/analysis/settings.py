"""Settings of the analysis service, read from `TT_ANALYSIS_*` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_ANALYSIS_", extra="ignore")

    service_name: str = "analysis"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_analysis"
    port: int = 8003
    jobs_stream: str = "TASKS_ANALYSIS"
    jobs_subject: str = "tasks.analysis"
    jobs_durable: str = "analysis-workers"
