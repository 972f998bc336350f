"""Settings of the ingestion service, read from `TT_INGESTION_*` environment variables."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.settings import ServiceSettings

# Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - as a webhook secret token.
_SECRET_PATTERN = r"^[A-Za-z0-9_-]{1,256}$"


class WebhookSecretMissing(RuntimeError):
    """The API was asked to start without a webhook secret and without `webhook_open`."""


class IngestionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_INGESTION_", extra="ignore")

    service_name: str = "ingestion"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker_ingestion"
    port: int = 8001
    jobs_stream: str = "TASKS_INGESTION"
    jobs_subject: str = "tasks.ingestion"
    jobs_durable: str = "ingestion-workers"
    # Telegram's updates: the webhook publishes each body to this work-queue stream, the
    # worker consumes it in batches with this durable (`updates.py`, `update_consumer.py`).
    updates_stream: str = "UPDATES_INGESTION"
    updates_subject: str = "updates.ingestion"
    updates_durable: str = "ingestion-updates"

    # The value Telegram sends in X-Telegram-Bot-Api-Secret-Token (setWebhook's secret_token).
    webhook_secret: SecretStr | None = None
    # Accept webhook calls without a secret. Only for local experiments.
    webhook_open: bool = False
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long the webhook waits for JetStream to acknowledge the update before answering 503.
    webhook_enqueue_timeout_seconds: float = Field(default=2.0, gt=0)
    # How long a chat binding code stays valid.
    bind_code_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # Parked updates of a newly bound chat are released this many per transaction.
    release_chunk_size: int = Field(default=200, ge=1, le=10_000)
    # The worker fetches updates and stores each fetch in one transaction: at most this many
    # (a message row binds 14 parameters, PostgreSQL takes 32,767 per statement)...
    store_batch_max_items: int = Field(default=250, ge=1, le=1000)
    # ...and a fetch that brought fewer is topped up once with what arrived until this long
    # after it began: a trickle costs a transaction per linger, not one per update, and an
    # update waits at most about this long (one that finds the worker idle, not at all).
    store_batch_linger_seconds: float = Field(default=0.025, ge=0, le=1)

    # A chat history import (a Telegram Desktop `result.json`) is refused with 413 above this.
    import_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Exported messages stored per transaction (with their events and the import's cursor).
    import_chunk_size: int = Field(default=1000, ge=1, le=5000)

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_accepts_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if not re.fullmatch(_SECRET_PATTERN, value.get_secret_value()):
            raise ValueError("webhook secret must be 1-256 characters of A-Z a-z 0-9 _ -")
        return value

    def require_webhook_secret(self) -> None:
        """The API refuses to start open unless told to (`TT_INGESTION_WEBHOOK_OPEN=true`)."""
        if self.webhook_secret is None and not self.webhook_open:
            raise WebhookSecretMissing(
                "TT_INGESTION_WEBHOOK_SECRET is not set. Generate one (e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), pass the same "
                "value as secret_token to Telegram's setWebhook, or set "
                "TT_INGESTION_WEBHOOK_OPEN=true to accept unauthenticated webhook calls."
            )
