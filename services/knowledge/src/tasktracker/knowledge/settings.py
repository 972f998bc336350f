"""Settings of the knowledge service, read from `TT_KNOWLEDGE_*` environment variables."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings

OFFLINE_MODEL = "offline-rules"


class KnowledgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_KNOWLEDGE_", extra="ignore")

    service_name: str = "knowledge"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_knowledge"
    port: int = 8002
    jobs_stream: str = "TASKS_KNOWLEDGE"
    jobs_subject: str = "tasks.knowledge"
    jobs_durable: str = "knowledge-workers"

    # The message read model: a durable pull consumer of `space.*.messages.message.updated`,
    # taking up to this many events per fetch, stored in one transaction.
    messages_durable: str = "knowledge-messages"
    messages_batch_size: int = Field(default=500, ge=1, le=5000)
    messages_batch_timeout_seconds: float = Field(default=0.2, gt=0)
    # After a fetch short of a batch the message consumer waits this long and takes what
    # arrived meanwhile, so a steady flow costs a transaction per linger, not per handful of
    # events (0: store each fetch at once). A lone event waits the linger plus the fetch wait.
    messages_linger_seconds: float = Field(default=0.2, ge=0, le=5)
    # An event not acknowledged this long after delivery is delivered again.
    messages_ack_wait_seconds: float = Field(default=30, gt=0)
    # Where a newly created consumer starts: the whole stream (None, what a deployment wants),
    # or events since this time (tests on a shared NATS server whose stream holds others' events).
    messages_start_time: datetime | None = None
    # While the database is unreachable a batch waits this long before it is tried again,
    # doubling up to the maximum (no tight retry loop, and no event is dropped).
    messages_outage_delay_seconds: float = Field(default=0.5, gt=0)
    messages_outage_max_delay_seconds: float = Field(default=15, gt=0)

    # The extractor: `offline-rules` (the deterministic rules of domain/offline_rules.py), any
    # pydantic-ai model string (`openai:gpt-4o-mini`, `anthropic:…`, `ollama:llama3.1`), or,
    # with `llm_base_url` set, a model name served by that OpenAI-compatible server.
    llm_model: str = OFFLINE_MODEL
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=120, gt=0)

    # Extraction requests and jobs.
    extraction_chunk_size: int = Field(default=50, ge=1, le=500)
    extraction_max_window_days: float = Field(default=31, gt=0)
    extraction_max_message_ids: int = Field(default=2000, ge=1)
    extraction_max_messages: int = Field(default=20_000, ge=1)
    # Tries of an extraction job (each resumes after the last committed chunk) before it ends
    # in `extraction_failed`.
    extraction_max_tries: int = Field(default=4, ge=1)
    # The worker kicks again extractions pending longer than this (a lost kick), checking at
    # start and as often. Below the stream's duplicate window, so a kick that did arrive
    # and waits in the queue is not doubled.
    extraction_requeue_after_seconds: float = Field(default=60, gt=0)
