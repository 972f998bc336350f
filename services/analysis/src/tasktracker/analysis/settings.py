"""Settings of the analysis service, read from `TT_ANALYSIS_*` environment variables."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings

OFFLINE_MODEL = "offline-task-rules"


class AnalysisSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_ANALYSIS_", extra="ignore")

    service_name: str = "analysis"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_analysis"
    port: int = 8003
    jobs_stream: str = "TASKS_ANALYSIS"
    jobs_subject: str = "tasks.analysis"
    jobs_durable: str = "analysis-workers"

    # Read models: servicekit's BatchConsumer, durable pull consumers of `space.*.<topic>.>`,
    # a batch per fetch stored in one transaction.
    messages_durable: str = "analysis-messages"
    knowledge_durable: str = "analysis-knowledge"
    decisions_durable: str = "analysis-decisions"
    consumer_batch_size: int = Field(default=500, ge=1, le=5000)
    consumer_batch_timeout_seconds: float = Field(default=0.2, gt=0)
    # After a fetch short of a batch the message consumer waits this long and takes what
    # arrived meanwhile, so a steady flow costs a transaction per linger, not per handful of
    # events (0: store each fetch at once). A lone event waits the linger plus the fetch wait.
    messages_linger_seconds: float = Field(default=0.2, ge=0, le=5)
    # An event not acknowledged this long after delivery is delivered again.
    consumer_ack_wait_seconds: float = Field(default=30, gt=0)
    # While the database is away a batch is handed back after a delay doubling up to the max.
    consumer_outage_delay_seconds: float = Field(default=0.5, gt=0)
    consumer_outage_max_delay_seconds: float = Field(default=15, gt=0)
    # Where a newly created consumer starts: the whole stream (None, what a deployment wants:
    # the read models are rebuilt from the log), or events since this time (tests and
    # benchmarks on a shared NATS server whose stream holds others' events).
    consumers_start_time: datetime | None = None

    # The task extractor: `offline-task-rules` (the deterministic rules of
    # domain/offline_tasks.py), any pydantic-ai model string (`openai:gpt-4o-mini`,
    # `anthropic:…`, `ollama:llama3.1`), or, with `llm_base_url` set, a model name served by
    # that OpenAI-compatible server.
    llm_model: str = OFFLINE_MODEL
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=120, gt=0)
    # Model calls per minute across a worker's runs; None: no limit. Applies to sequential and
    # concurrent runs alike.
    llm_requests_per_minute: float | None = Field(default=None, gt=0)

    # Runs.
    run_max_window_days: float = Field(default=31, gt=0)
    run_max_messages: int = Field(default=20_000, ge=1)
    # Tries of a run's job (each resumes after the committed batches) before it is `failed`.
    run_max_tries: int = Field(default=4, ge=1)
