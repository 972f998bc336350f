"""deploy/compose.yaml, read statically (no Docker engine here): the processes of `make run`,
each from its own image, with only its own settings and secrets, migrated before it starts,
healthchecked, read-only; only the gateway publishes a port."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
import yaml
from sqlalchemy.engine import make_url

from tasktracker.gateway.settings import DEFAULT_ROUTES
from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.dockerfile import read_dockerfile
from tests.deploy.services import BY_COMMAND, BY_NAME, SERVICES, Service, procfile

INFRA = {"postgres", "nats"}


@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def containers() -> dict[str, dict]:
    return {n: c for n, c in compose()["services"].items() if n not in INFRA}


def owner(container: dict) -> Service:
    return BY_COMMAND[container["command"][0]]


def test_the_long_running_containers_are_the_processes_of_make_run() -> None:
    running = {n: c["command"] for n, c in containers().items() if c["command"][1] != "migrate"}
    assert running == procfile()


def test_only_the_gateway_publishes_a_port() -> None:
    published = {n for n, c in compose()["services"].items() if c.get("ports")}
    assert published == {"gateway"}
    [port] = compose()["services"]["gateway"]["ports"]
    assert port.endswith(f":{BY_NAME['gateway'].port}")


@pytest.mark.parametrize("name", list(containers()))
def test_each_container_runs_its_services_image_read_only_and_non_root(name: str) -> None:
    container = containers()[name]
    service = owner(container)
    assert container["build"]["dockerfile"] == f"services/{service.directory}/Dockerfile"
    assert container["build"]["context"] == ".."
    assert container["image"] == service.package
    assert container["read_only"] is True and container["cap_drop"] == ["ALL"]
    _, stages = read_dockerfile(ROOT / container["build"]["dockerfile"])
    assert stages[-1].last("USER") not in {None, "root", "0"}
    assert container.get("user") in {None, stages[-1].last("USER")}


@pytest.mark.parametrize("name", list(containers()))
def test_each_container_gets_only_its_own_settings(name: str) -> None:
    container = containers()[name]
    service = owner(container)
    for variable in container["environment"]:
        assert variable in service.env_names, variable


@pytest.mark.parametrize("name", list(containers()))
def test_each_container_reaches_postgres_as_its_own_role(name: str) -> None:
    container = containers()[name]
    service = owner(container)
    if not service.has_database:
        assert not any("DATABASE" in v or "PG" in v for v in container["environment"])
        return
    url = make_url(container["environment"][service.env("database_url")])
    assert url.username == url.database == f"tasktracker_{service.name}"
    assert url.host == "postgres"
    assert url.password == f"${{TT_PG_{service.name.upper()}_PASSWORD}}"


@pytest.mark.parametrize("name", list(containers()))
def test_each_container_reaches_nats_as_its_own_user(name: str) -> None:
    env = containers()[name]["environment"]
    service = owner(containers()[name])
    if containers()[name]["command"][1] == "migrate":
        assert service.env("nats_url") not in env  # migrating needs no NATS
        return
    assert env[service.env("nats_url")] == "nats://nats:4222"
    assert env[service.env("nats_user")] == service.name
    assert env[service.env("nats_password")] == f"${{TT_NATS_{service.name.upper()}_PASSWORD}}"


def test_nats_has_every_password_its_accounts_config_reads() -> None:
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    users = dict(re.findall(r"\{user: (\w+), password: \$(\w+)", accounts))
    assert set(users) == {s.name for s in SERVICES}
    env = compose()["services"]["nats"]["environment"]
    assert set(users.values()) <= set(env)
    for user, variable in users.items():
        assert env[variable].startswith(f"${{TT_NATS_{user.upper()}_PASSWORD:?")
    volumes = compose()["services"]["nats"]["volumes"]
    assert "./nats/accounts.conf:/etc/nats/accounts.conf:ro" in volumes


def test_postgres_creates_a_role_per_service_with_the_deploys_init() -> None:
    postgres = compose()["services"]["postgres"]
    initdb = (DEPLOY / "postgres" / "initdb.sh").read_text()
    default_sql = re.search(r'TT_PG_SERVICE_SQL:-([^}"]+)', initdb).group(1)
    assert f"./postgres/service-database.sql:{default_sql}:ro" in postgres["volumes"]
    assert any(
        v.startswith("./postgres/initdb.sh:/docker-entrypoint-initdb.d/")
        for v in postgres["volumes"]
    )
    with_database = {s.name for s in SERVICES if s.has_database}
    assert set(re.search(r"for service in ([\w ]+);", initdb).group(1).split()) == with_database
    for name in with_database:
        assert f"TT_PG_{name.upper()}_PASSWORD" in postgres["environment"]


@pytest.mark.parametrize("service", [s for s in SERVICES if s.has_database], ids=lambda s: s.name)
def test_a_migrate_step_runs_before_the_services_processes(service: Service) -> None:
    step = f"{service.name}-migrate"
    migrate = containers()[step]
    assert migrate["command"] == [service.command, "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name, container in containers().items():
        if owner(container) is service and name != step:
            assert container["depends_on"][step] == {"condition": "service_completed_successfully"}
            assert container["depends_on"]["postgres"] == {"condition": "service_healthy"}
            assert container["depends_on"]["nats"] == {"condition": "service_healthy"}


def test_every_long_running_container_is_healthchecked() -> None:
    for name, container in compose()["services"].items():
        if name in INFRA or container["command"][1] == "worker":
            assert container["healthcheck"]["test"][0] == "CMD", name
        elif container["command"][1] == "api":
            _, stages = read_dockerfile(ROOT / container["build"]["dockerfile"])
            assert stages[-1].last("HEALTHCHECK"), name  # the image's /healthz check


def test_the_gateway_routes_to_each_service_by_its_compose_name_and_settings_port() -> None:
    gateway = containers()["gateway"]
    routes = json.loads(gateway["environment"]["TT_GATEWAY_ROUTES"])
    assert set(routes) == set(DEFAULT_ROUTES)
    for prefix, upstream in routes.items():
        default = DEFAULT_ROUTES[prefix]
        target = next(s for s in SERVICES if default.endswith(f":{s.port}"))
        assert upstream == f"http://{target.name}:{target.port}"
        assert gateway["depends_on"][target.name] == {"condition": "service_healthy"}
