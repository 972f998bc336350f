"""Settings of the gateway, read from `TT_GATEWAY_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tasktracker.contracts.ws import MAX_CLIENT_FRAME_BYTES
from tasktracker.servicekit.actor import actor_key
from tasktracker.servicekit.settings import NatsSettings

INGESTION = "http://127.0.0.1:8001"
KNOWLEDGE = "http://127.0.0.1:8002"
ANALYSIS = "http://127.0.0.1:8003"
REVIEW = "http://127.0.0.1:8004"

# Path prefix → upstream base URL; the longest matching prefix wins, `{project_id}` matches one
# path segment. Paths not listed here are answered 404 by the gateway itself.
DEFAULT_ROUTES: dict[str, str] = {
    "/api/projects": INGESTION,  # list/create, /{pid} GET/PATCH, /{pid}/sources, /{pid}/messages
    "/api/ingestion": INGESTION,
    "/webhook/telegram": INGESTION,
    "/api/projects/{project_id}/knowledge": KNOWLEDGE,
    "/api/projects/{project_id}/extractions": KNOWLEDGE,
    "/api/projects/{project_id}/runs": ANALYSIS,
    "/api/projects/{project_id}/proposals": REVIEW,
    "/api/projects/{project_id}/tasks": REVIEW,
}

HMAC_MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output


class GatewaySettings(NatsSettings):
    model_config = SettingsConfigDict(
        env_prefix="TT_GATEWAY_", extra="ignore", validate_by_name=True
    )

    service_name: str = "gateway"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    # `json` (one JSON object a line) or `plain`; `make run` sets plain.
    log_format: Literal["json", "plain"] = "json"
    # One line per request at INFO, from uvicorn; off by default (`make run` would print every
    # proxied request, and the upstream logs it again).
    access_log: bool = False
    # `/docs` and `/openapi.json`: on for development only. `/metrics`: `public`, `admin`
    # (a bearer JWT with the global admin flag) or `off`.
    docs: bool = False
    metrics: Literal["public", "admin", "off"] = "admin"

    # Bearer JWT. HS256 verifies with `jwt_secret`; RS256 with a PEM public key, given inline
    # or as a file. `jwt_private_key_file` is only read by the `token` command (RS256).
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    # Clock skew allowed on `exp`, `nbf` and `iat`, between the gateway and whoever signs.
    jwt_leeway_seconds: float = Field(default=5, ge=0, le=300)
    # With a shared identity provider (RS256), a token must name it (`iss`) and this
    # application among its audiences (`aud`); unset, neither claim is checked.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    # The key the gateway signs each proxied request's caller with (`X-Actor-Token`), the same
    # in every service: `TT_INTERNAL_ACTOR_KEY` as they read it, or `TT_GATEWAY_INTERNAL_ACTOR_KEY`.
    internal_actor_key: SecretStr | None = Field(
        default=None, validation_alias="TT_INTERNAL_ACTOR_KEY"
    )

    # REST routing.
    routes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    public_paths: list[str] = Field(default_factory=lambda: ["/webhook/telegram"])
    body_limit_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    # `POST /api/projects/{pid}/imports` (a chat export, 16 MB for 50,000 messages) only; the
    # default is ingestion's own cap (TT_INGESTION_IMPORT_MAX_BYTES).
    import_body_limit_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    upstream_timeout_seconds: float = Field(default=30, gt=0)
    upstream_connect_timeout_seconds: float = Field(default=5, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    # An idle pooled connection to a service is closed after this: shorter than the services'
    # own keep-alive (TT_<SERVICE>_KEEP_ALIVE_SECONDS, 75 s), so a request never goes out on a
    # connection the service is closing.
    upstream_keepalive_seconds: float = Field(default=30, gt=0)

    # WebSocket.
    send_queue_size: int = Field(default=1000, ge=2)  # frames
    send_queue_bytes: int = Field(default=1024 * 1024, ge=4096)  # characters of those frames
    # A replay waits for room in a slow socket's queue at most this long, then closes it (4429).
    replay_drain_timeout_seconds: float = Field(default=10, gt=0)
    max_sockets_per_token: int = Field(default=16, ge=1)
    # Behind a proxy every client has the proxy's address: raise it, or let uvicorn read the
    # client's address from `X-Forwarded-For` (its `--proxy-headers`, `FORWARDED_ALLOW_IPS`).
    max_sockets_per_client: int = Field(default=256, ge=1)
    ping_interval_seconds: float = Field(default=20, gt=0)
    ping_timeout_seconds: float = Field(default=20, gt=0)
    close_timeout_seconds: float = Field(default=5, gt=0)
    max_frame_bytes: int = Field(default=MAX_CLIENT_FRAME_BYTES, ge=1024)
    max_subscriptions_per_socket: int = Field(default=100, ge=1)
    replay_batch_size: int = Field(default=256, ge=1)
    max_concurrent_replays: int = Field(default=32, ge=1)

    # Keys are checked when used, not when settings are read, so that `watch --token` works
    # on a machine without them. `create_app` asks for the key first thing: a gateway
    # without one does not start.
    def verification_key(self) -> str | bytes:
        if self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret.encode()) < HMAC_MIN_KEY_BYTES:
                raise ValueError(
                    f"TT_GATEWAY_JWT_SECRET must be set to at least {HMAC_MIN_KEY_BYTES} bytes "
                    "for HS256"
                )
            return secret
        if self.jwt_public_key:
            return self.jwt_public_key
        if self.jwt_public_key_file is not None:
            return self.jwt_public_key_file.read_bytes()
        raise ValueError("RS256 needs TT_GATEWAY_JWT_PUBLIC_KEY or TT_GATEWAY_JWT_PUBLIC_KEY_FILE")

    def actor_key(self) -> bytes:
        key = self.internal_actor_key
        return actor_key(key.get_secret_value() if key else None)

    def signing_key(self) -> str | bytes:
        if self.jwt_algorithm == "HS256":
            return self.verification_key()
        if self.jwt_private_key_file is None:
            raise ValueError("RS256 tokens need TT_GATEWAY_JWT_PRIVATE_KEY_FILE (or --private-key)")
        return self.jwt_private_key_file.read_bytes()
