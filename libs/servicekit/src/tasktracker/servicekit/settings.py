"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseSettings):
    """Where NATS is and how the `space.>` event stream is configured."""

    model_config = SettingsConfigDict(env_prefix="TT_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    # Credentials of this process's NATS user (deploy/nats/accounts.conf): a user and password,
    # or a `.creds` file. Unset, it connects anonymously, as to the server `make run` starts.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds_file: Path | None = None
    stream_name: str = "SPACES"
    stream_max_age_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    stream_duplicate_window_seconds: float = Field(default=120, gt=0)
    # Traces (servicekit.tracing): the OTLP/HTTP endpoint of a collector, e.g.
    # `http://127.0.0.1:4318`, one name for every process: `TT_OTLP_ENDPOINT`. Unset: off.
    otlp_endpoint: str | None = Field(default=None, validation_alias="TT_OTLP_ENDPOINT")

    def nats_credentials(self) -> dict[str, Any]:
        """The credentials as nats-py's `connect()` takes them (taskiq-nats passes them on)."""
        options: dict[str, Any] = {}
        if self.nats_user is not None:
            options["user"] = self.nats_user
        if self.nats_password is not None:
            options["password"] = self.nats_password.get_secret_value()
        if self.nats_creds_file is not None:
            options["user_credentials"] = str(self.nats_creds_file)
        return options


class ServiceSettings(NatsSettings):
    """Settings of a service with its own database, outbox and job queue.

    Subclasses set `model_config = SettingsConfigDict(env_prefix="TT_<SERVICE>_")`; the NATS
    and stream fields are then read with the service prefix too.
    """

    # `internal_actor_key` is read from the name every process shares (its alias), or by name.
    model_config = SettingsConfigDict(validate_by_name=True)

    service_name: str = "service"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/tasktracker"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    # `json` (one JSON object a line, for a log pipeline) or `plain`; `make run` sets plain.
    log_format: Literal["json", "plain"] = "json"
    # The worker serves its Prometheus metrics on this port (on `host`); 0: not served.
    # The API serves them on its own port, at `/metrics`.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    # uvicorn's line per request at INFO (the `api` command); off, as the gateway's.
    access_log: bool = False
    # How long the API keeps an idle keep-alive connection open. Longer than the gateway's
    # pool keeps one (TT_GATEWAY_UPSTREAM_KEEPALIVE_SECONDS), so that the gateway, not the
    # service, closes it: uvicorn's 5 s default closed connections the caller was reusing,
    # and the request on them failed (3 of 1,000 decisions in bench.review_decisions).
    keep_alive_seconds: float = Field(default=75, gt=0)
    # The key the gateway signs each request's caller with (`servicekit.actor`), the same in
    # the gateway and every service: `TT_INTERNAL_ACTOR_KEY`. The API refuses to start without.
    internal_actor_key: SecretStr | None = Field(
        default=None, validation_alias="TT_INTERNAL_ACTOR_KEY"
    )
    # The TaskIQ job stream of this service: its own stream, subject and durable.
    jobs_stream: str = "TASKS"
    jobs_subject: str = "tasks"
    jobs_durable: str = "workers"
    job_ack_wait_seconds: float = Field(default=30, gt=0)
    # Jobs a worker process runs at once, and how many messages it pulls per fetch.
    job_max_async_tasks: int = Field(default=500, ge=1)
    job_fetch_batch: int = Field(default=100, ge=1)
    # A running job's heartbeat stops after this; a job stuck longer is redelivered.
    job_max_runtime_seconds: float = Field(default=3600, gt=0)
    # 12 tries, 1 s doubling to 60 s: about six minutes of retries, enough to ride out a
    # database restart or failover before a job is parked on the dead-letter stream.
    job_max_retries: int = Field(default=12, ge=1)
    job_retry_delay_seconds: float = Field(default=1.0, ge=0)
    job_retry_max_delay_seconds: float = Field(default=60.0, ge=0)
    # While the database is unreachable a job spends no try: the worker waits (doubling from
    # the retry delay up to this) and takes jobs again once it answers.
    job_outage_max_delay_seconds: float = Field(default=15.0, gt=0)
    # The dead-letter stream keeps parked jobs this long, and at most this much (oldest first out).
    job_dead_letter_max_age_seconds: float = Field(default=30 * 24 * 3600, gt=0)
    job_dead_letter_max_bytes: int = Field(default=1024**3, gt=0)
    # Relay: poll interval is only the fallback; commits wake it through LISTEN/NOTIFY.
    relay_enabled: bool = True
    relay_poll_seconds: float = Field(default=5.0, gt=0)
    # At most 1,000: a batch's publishes must fit nats-py's 4,000 pending async publishes.
    relay_batch_size: int = Field(default=200, ge=1, le=1000)
