"""The environment of every process of a local stack: URLs, ports, secrets."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from tasktracker.devstack.embedded import database_url

DATA_SERVICES = ("ingestion", "knowledge", "analysis", "review")
PORTS = {"gateway": 8000, "ingestion": 8001, "knowledge": 8002, "analysis": 8003, "review": 8004}
# Workers serve their Prometheus metrics on a port of their own (APIs at `/metrics`).
WORKER_METRICS_PORTS = {"ingestion": 9101, "knowledge": 9102, "analysis": 9103}


@dataclass(frozen=True)
class Stack:
    nats_url: str
    postgres_url: str
    webhook_secret: str
    jwt_secret: str
    host: str = "127.0.0.1"
    # The gateway signs each request's caller with it; every API checks it (servicekit.actor).
    internal_actor_key: str = field(default_factory=lambda: secrets.token_hex(32))

    def database_url(self, service: str) -> str:
        return database_url(self.postgres_url, f"tasktracker_{service}")

    def base_url(self, service: str) -> str:
        return f"http://{self.host}:{PORTS[service]}"

    def metrics_url(self, process: str) -> str:
        """`/metrics` of an API (`ingestion`) or a worker (`ingestion-worker`)."""
        service, _, kind = process.partition("-")
        port = WORKER_METRICS_PORTS[service] if kind == "worker" else PORTS[service]
        return f"http://{self.host}:{port}/metrics"

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for service in (*DATA_SERVICES, "gateway"):
            prefix = f"TT_{service.upper()}_"
            env[prefix + "NATS_URL"] = self.nats_url
            env[prefix + "HOST"] = self.host
            env[prefix + "PORT"] = str(PORTS[service])
            env[prefix + "LOG_FORMAT"] = "plain"  # a deployment keeps JSON lines
        for service in DATA_SERVICES:
            env[f"TT_{service.upper()}_DATABASE_URL"] = self.database_url(service)
        for service, port in WORKER_METRICS_PORTS.items():
            env[f"TT_{service.upper()}_WORKER_METRICS_PORT"] = str(port)
        env["TT_INGESTION_WEBHOOK_SECRET"] = self.webhook_secret
        env["TT_GATEWAY_JWT_SECRET"] = self.jwt_secret
        env["TT_INTERNAL_ACTOR_KEY"] = self.internal_actor_key  # one name, read by all of them
        env["TT_GATEWAY_DOCS"] = "true"  # dev only: a deployment keeps both off / admin-only
        env["TT_GATEWAY_METRICS"] = "public"
        return env
