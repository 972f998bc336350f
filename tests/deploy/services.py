"""What the deploy files must agree with, read from the code: each service's package, command,
settings class (env prefix, port, fields) and processes (deploy/local/Procfile, as `make run`
starts them)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from pydantic_settings import BaseSettings

from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.review.settings import ReviewSettings
from tests.deploy.conftest import DEPLOY, ROOT


@dataclass(frozen=True)
class Service:
    name: str  # as in compose, Kubernetes and NATS: ingestion, ..., gateway
    directory: str  # services/<directory>
    settings: type[BaseSettings]

    @property
    def package(self) -> str:
        return self.pyproject["project"]["name"]

    @property
    def pyproject(self) -> dict:
        return tomllib.loads((ROOT / "services" / self.directory / "pyproject.toml").read_text())

    @property
    def command(self) -> str:
        [script] = self.pyproject["project"]["scripts"]
        return script

    @property
    def env_prefix(self) -> str:
        return self.settings.model_config["env_prefix"]

    @property
    def port(self) -> int:
        return self.settings.model_fields["port"].default

    @property
    def has_database(self) -> bool:
        return "database_url" in self.settings.model_fields

    @property
    def processes(self) -> dict[str, list[str]]:
        """Procfile name → argv, e.g. {"ingestion": [...api], "ingestion-worker": [...worker]}."""
        return {name: argv for name, argv in procfile().items() if argv[0] == self.command}

    @property
    def has_worker(self) -> bool:
        return any(argv[1:] == ["worker"] for argv in self.processes.values())

    def env(self, field: str) -> str:
        assert field in self.settings.model_fields, f"{self.settings.__name__} has no {field}"
        alias = self.settings.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else f"{self.env_prefix}{field}".upper()

    @property
    def env_names(self) -> set[str]:
        """Every environment variable the settings class reads."""
        return {self.env(field) for field in self.settings.model_fields}


SERVICES = [
    Service("ingestion", "ingestion", IngestionSettings),
    Service("knowledge", "knowledge", KnowledgeSettings),
    Service("analysis", "analysis", AnalysisSettings),
    Service("review", "review", ReviewSettings),
    Service("gateway", "ws-gateway", GatewaySettings),
]
BY_NAME = {service.name: service for service in SERVICES}
BY_COMMAND = {service.command: service for service in SERVICES}


@cache
def procfile() -> dict[str, list[str]]:
    lines = (DEPLOY / "local" / "Procfile").read_text().splitlines()
    return {
        name.strip(): command.split()
        for name, command in (line.split(":", 1) for line in lines if line.strip())
    }
