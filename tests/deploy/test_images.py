"""Each service's Dockerfile, read statically (no Docker engine here): multi-stage with uv, a
slim base, only this service and its libraries, a non-root user, a healthcheck, and the
command, port and env names of its settings class."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache

import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.dockerfile import Stage, copy_sources, env_pairs, exec_form, read_dockerfile
from tests.deploy.services import SERVICES, Service

DEV_ONLY = {"tasktracker-devstack", "pytest", "ruff", "honcho", "testcontainers", "pgserver"}


def stages(service: Service) -> list[Stage]:
    return read_dockerfile(ROOT / "services" / service.directory / "Dockerfile")[1]


# `make test` may run uv as a module (the Makefile installs it with pip when missing).
UV = [shutil.which("uv")] if shutil.which("uv") else [sys.executable, "-m", "uv"]


@cache
def exported(package: str) -> list[str]:
    """`uv export` of the package without dev dependencies: what its image installs."""
    command = ["export", "--frozen", "--no-dev", "--no-hashes", "--package", package]
    result = subprocess.run(UV + command, cwd=ROOT, check=True, capture_output=True, text=True)
    return result.stdout.splitlines()


def workspace_members(service: Service) -> set[str]:
    """Workspace folders the package needs, as `uv export` lists them (`-e ./libs/x`)."""
    return {line[len("-e ./") :] for line in exported(service.package) if line.startswith("-e ./")}


def locked_packages(service: Service) -> set[str]:
    return {
        re.split(r"[=\s;]", line, maxsplit=1)[0].lower()
        for line in exported(service.package)
        if line and not line.startswith(("#", " ", "-e"))
    }


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_lock_gives_a_service_only_itself_and_its_libraries(service: Service) -> None:
    members = workspace_members(service)
    assert f"services/{service.directory}" in members
    other_services = {f"services/{s.directory}" for s in SERVICES if s is not service}
    assert not members & other_services
    assert "libs/devstack" not in members
    assert not locked_packages(service) & DEV_ONLY


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_image_is_built_with_uv_into_a_venv_and_copies_only_that(service: Service) -> None:
    build, runtime = stages(service)[-2:]
    syncs = [run for run in build.all("RUN") if "uv sync" in run]
    assert syncs, "the build stage installs with uv sync"
    for run in syncs:
        for flag in ("--frozen", "--no-dev", f"--package {service.package}"):
            assert flag in run
    assert "--no-editable" in syncs[-1]  # the runtime gets installed packages, not the sources
    copied = set()
    for args in build.all("COPY"):
        flags, sources, _ = copy_sources(args)
        if not any(f.startswith("--from") for f in flags):
            copied |= {s.rstrip("/") for s in sources}
    folders = {re.sub(r"/(pyproject\.toml|src)$", "", s) for s in copied} - {
        "pyproject.toml",
        "uv.lock",
    }
    assert folders == workspace_members(service)
    assert not any("tests" in s.split("/") for s in copied)
    [venv] = runtime.all("COPY")
    flags, sources, destination = copy_sources(venv)
    assert flags == [f"--from={build.name}"]
    assert (sources, destination) == (["/app/.venv"], "/app/.venv")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_runtime_is_slim_non_root_and_healthchecked(service: Service) -> None:
    all_stages = stages(service)
    runtime = all_stages[-1]
    for stage in all_stages:
        assert ":" in stage.base and not stage.base.endswith(":latest"), stage.base
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", runtime.base)
    assert all_stages[-2].base == runtime.base  # the venv's python is the runtime's python
    user = runtime.last("USER")
    assert user is not None and user.split(":")[0] not in {"root", "0"}
    healthcheck = runtime.last("HEALTHCHECK")
    assert healthcheck is not None
    probe = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert f"http://127.0.0.1:{service.port}/healthz" in " ".join(probe)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_image_runs_the_services_api_on_its_settings_port(service: Service) -> None:
    runtime = stages(service)[-1]
    assert exec_form(runtime.last("CMD")) == [service.command, "api"]
    assert runtime.last("EXPOSE") == str(service.port)
    env: dict[str, str] = {}
    for args in runtime.all("ENV"):
        env |= env_pairs(args)
    assert env[service.env("host")] == "0.0.0.0"
    assert env[service.env("port")] == str(service.port)
    assert env["PATH"].startswith("/app/.venv/bin:")


def test_the_build_context_holds_no_tests_data_or_environment() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything is left out unless allowed below
    allowed = [line[1:] for line in rules if line.startswith("!")]
    assert not any(part in a for a in allowed for part in ("tests", ".venv", ".data", "bench"))


def test_every_workspace_service_has_an_image() -> None:
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    assert workspace["members"] == ["libs/*", "services/*"]
    folders = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
    assert folders == sorted(s.directory for s in SERVICES)
    assert all((ROOT / "services" / f / "Dockerfile").exists() for f in folders)
