"""deploy/k8s rendered (tests/deploy/kustomize.py) for each overlay and checked: the Kubernetes
schema (kubernetes-validate, offline), probes, resources, non-root and read-only workloads,
only the gateway exposed, and names, images, commands, ports and env that agree with each
service's settings class and with the NATS and PostgreSQL configuration."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import kubernetes_validate
import pytest

from tasktracker.gateway.settings import DEFAULT_ROUTES, HMAC_MIN_KEY_BYTES
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.actor import MIN_KEY_BYTES
from tests.deploy.conftest import DEPLOY
from tests.deploy.kustomize import build
from tests.deploy.services import BY_COMMAND, BY_NAME, SERVICES, procfile

OVERLAYS = ["dev", "production"]
KUBERNETES_VERSION = "1.31.0"  # the oldest release the manifests must apply to
# Secrets production creates outside git (deploy/README.md); `<service>-db-app` are
# CloudNativePG's and `tasktracker-tls` cert-manager's.
EXTERNAL_SECRETS = {
    "gateway-nats",
    "ingestion-nats",
    "knowledge-nats",
    "analysis-nats",
    "review-nats",
    "gateway-jwt",
    "ingestion-webhook",
    "tasktracker-internal-actor",
    "knowledge-llm",
    "analysis-llm",
}
# What each kind of workload may read, by Secret name: only what it uses.
SECRETS_OF = {
    "gateway": {"gateway-nats", "gateway-jwt", "tasktracker-internal-actor"},
    "ingestion": {
        "ingestion-db-app",
        "ingestion-nats",
        "ingestion-webhook",
        "tasktracker-internal-actor",
    },
    "ingestion-worker": {"ingestion-db-app", "ingestion-nats"},
    "knowledge": {"knowledge-db-app", "knowledge-nats", "tasktracker-internal-actor"},
    "knowledge-worker": {"knowledge-db-app", "knowledge-nats", "knowledge-llm"},
    "analysis": {"analysis-db-app", "analysis-nats", "tasktracker-internal-actor"},
    "analysis-worker": {"analysis-db-app", "analysis-nats", "analysis-llm"},
    "review": {"review-db-app", "review-nats", "tasktracker-internal-actor"},
    "ingestion-migrate": {"ingestion-db-app"},
    "knowledge-migrate": {"knowledge-db-app"},
    "analysis-migrate": {"analysis-db-app"},
    "review-migrate": {"review-db-app"},
}


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(build(DEPLOY / "k8s" / "overlays" / overlay))


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in rendered(overlay) if r["kind"] == kind}


def workloads(overlay: str) -> dict[str, dict[str, Any]]:
    return of_kind(overlay, "Deployment") | of_kind(overlay, "Job")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def the_container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec(workload)["containers"]
    return container


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions), expressions  # all this deploy uses
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        labels.get(e["key"]) in e["values"] for e in expressions
    )


MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def secret_refs(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    container = the_container(workload)
    for env in container.get("env", []):
        if "secretKeyRef" in env.get("valueFrom", {}):
            yield env["valueFrom"]["secretKeyRef"]
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            yield source["secretRef"]


def env_names(overlay: str, workload: dict[str, Any]) -> set[str]:
    container = the_container(workload)
    names = {env["name"] for env in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(of_kind(overlay, "ConfigMap")[source["configMapRef"]["name"]]["data"])
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schema(overlay: str) -> None:
    custom = {"ScaledObject", "Cluster"}  # KEDA's and CloudNativePG's: checked below
    for resource in rendered(overlay):
        if resource["kind"] in custom:
            continue
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    kinds = {r["kind"] for r in rendered(overlay)}
    assert kinds >= {"Deployment", "Job", "Service", "Ingress", "NetworkPolicy"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_in_the_overlays_namespace(overlay: str) -> None:
    namespace = {"dev": "tasktracker-dev", "production": "tasktracker"}[overlay]
    for resource in rendered(overlay):
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource["metadata"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_probed_bounded_non_root_and_read_only(overlay: str) -> None:
    for name, workload in workloads(overlay).items():
        pod, container = pod_spec(workload), the_container(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, name
        if workload["kind"] == "Deployment":
            assert "readinessProbe" in container and "livenessProbe" in container, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployments_are_the_processes_of_make_run(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    assert {n: the_container(d)["command"] for n, d in deployments.items()} == procfile()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_commands_and_ports_agree_with_each_service(overlay: str) -> None:
    for name, workload in workloads(overlay).items():
        container = the_container(workload)
        service = BY_COMMAND[container["command"][0]]
        image = container["image"]
        assert re.fullmatch(rf"([\w.-]+/)*{service.package}:[\w.-]+", image), image
        assert container["command"][1] in {"api", "worker", "migrate"}
        assert pod_labels(workload)["tasktracker.io/service"] == service.name
        assert pod_spec(workload)["serviceAccountName"] == service.name
        if container["command"][1] == "api":
            assert container["ports"] == [{"name": "http", "containerPort": service.port}]
            k8s_service = of_kind(overlay, "Service")[name]
            assert selects({"matchLabels": k8s_service["spec"]["selector"]}, pod_labels(workload))
            assert k8s_service["spec"]["ports"][0]["port"] == service.port
            annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
            if name != "gateway":  # its /metrics is admin-only: scraped with a token
                assert annotations["prometheus.io/port"] == str(service.port), name
        elif container["command"][1] == "worker":  # its metrics, nothing else
            assert container["ports"] == [{"name": "metrics", "containerPort": 9100}], name
            annotations = workload["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == "9100", name
        else:
            assert "ports" not in container, name  # migrations serve nothing


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_gets_only_its_own_settings(overlay: str) -> None:
    for name, workload in workloads(overlay).items():
        service = BY_COMMAND[the_container(workload)["command"][0]]
        for variable in env_names(overlay, workload):
            assert variable in service.env_names, (name, variable)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_reads_only_the_secrets_it_uses(overlay: str) -> None:
    generated = set(of_kind(overlay, "Secret"))
    from_operators = {f"{c}-app" for c in of_kind(overlay, "Cluster")}
    for name, workload in workloads(overlay).items():
        refs = list(secret_refs(workload))
        assert {r["name"] for r in refs} == SECRETS_OF[name], name
        for ref in refs:
            if overlay == "dev" and not ref.get("optional"):
                assert ref["name"] in generated | from_operators, ref
            if overlay == "production":
                assert ref["name"] in EXTERNAL_SECRETS | from_operators, ref
                assert ref["name"] not in generated  # no production secret lives in git


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_postgres_owned_by_its_role_and_a_migrate_job(
    overlay: str,
) -> None:
    clusters = of_kind(overlay, "Cluster")
    jobs = of_kind(overlay, "Job")
    with_database = [s for s in SERVICES if s.has_database]
    assert set(clusters) == {f"{s.name}-db" for s in with_database}
    for service in with_database:
        cluster = clusters[f"{service.name}-db"]["spec"]
        assert cluster["bootstrap"]["initdb"] == {
            "database": f"tasktracker_{service.name}",
            "owner": f"tasktracker_{service.name}",
        }
        assert cluster["enableSuperuserAccess"] is False
        job = jobs[f"{service.name}-migrate"]
        container = the_container(job)
        assert container["command"] == [service.command, "migrate"]
        [database_url] = container["env"]
        assert database_url["name"] == service.env("database_url")
        # CloudNativePG's app secret: the owner role's own connection string
        assert database_url["valueFrom"]["secretKeyRef"] == {
            "name": f"{service.name}-db-app",
            "key": "uri",
        }
    assert set(jobs) == {f"{s.name}-migrate" for s in with_database}
    if overlay == "production":
        assert {c["spec"]["instances"] for c in clusters.values()} == {3}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_exposed(overlay: str) -> None:
    [ingress] = of_kind(overlay, "Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    for k8s_service in of_kind(overlay, "Service").values():
        assert k8s_service["spec"].get("type", "ClusterIP") == "ClusterIP"


def allowed_sources(overlay: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Every `from` peer that some NetworkPolicy admits into a pod with these labels, and
    whether any policy selects the pod at all (else Kubernetes admits everything)."""
    policies = [
        p
        for p in of_kind(overlay, "NetworkPolicy").values()
        if selects(p["spec"]["podSelector"], labels) and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert policies, f"no NetworkPolicy selects {labels}: it is open to every pod"
    return [
        {"peer": peer, "ports": rule.get("ports")}
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_the_services_http_ports(overlay: str) -> None:
    gateway_labels = pod_labels(of_kind(overlay, "Deployment")["gateway"])
    for name, workload in workloads(overlay).items():
        sources = allowed_sources(overlay, pod_labels(workload))
        command = the_container(workload)["command"][1]
        scrapes = [s for s in sources if s["peer"] == MONITORING]
        sources = [s for s in sources if s["peer"] != MONITORING]
        # Prometheus reaches the metrics port alone: the API's HTTP port, the worker's `metrics`
        named = {"api": "http", "worker": "metrics"}.get(command)
        assert [s["ports"] for s in scrapes] == (
            [[{"protocol": "TCP", "port": named}]] if named and name != "gateway" else []
        ), name
        if name == "gateway":
            assert [s["peer"] for s in sources] == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ]
        elif command == "api":
            port = BY_NAME[pod_labels(workload)["tasktracker.io/service"]].port
            assert len(sources) == 1
            assert selects(sources[0]["peer"]["podSelector"], gateway_labels)
            assert set(sources[0]["peer"]) == {"podSelector"}  # same namespace only
            assert sources[0]["ports"] == [{"protocol": "TCP", "port": port}]
        else:
            assert sources == [], name  # workers and migrations take no connections


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_and_the_gateway_scale_on_cpu_and_have_disruption_budgets(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    autoscalers = of_kind(overlay, "HorizontalPodAutoscaler")
    apis = {n for n, d in deployments.items() if the_container(d)["command"][1] == "api"}
    assert set(autoscalers) == apis
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert selects(budgets[name]["spec"]["selector"], pod_labels(deployment)), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_their_consumers_lag(overlay: str) -> None:
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    [account] = re.findall(r"^  (\w+) \{\n    jetstream: enabled", accounts, flags=re.M)
    deployments = of_kind(overlay, "Deployment")
    workers = {n for n, d in deployments.items() if the_container(d)["command"][1] == "worker"}
    scaled = of_kind(overlay, "ScaledObject")
    assert set(scaled) == workers
    for name, scaled_object in scaled.items():
        settings = BY_NAME[name.removesuffix("-worker")].settings()
        assert scaled_object["spec"]["scaleTargetRef"] == {"name": name}
        # the job queue; and ingestion's worker consumes Telegram's updates too
        consumers = {(settings.jobs_stream, settings.jobs_durable)}
        if isinstance(settings, IngestionSettings):
            consumers.add((settings.updates_stream, settings.updates_durable))
        triggers = scaled_object["spec"]["triggers"]
        assert {(t["metadata"]["stream"], t["metadata"]["consumer"]) for t in triggers} == consumers
        for trigger in triggers:
            assert trigger["type"] == "nats-jetstream"
            assert trigger["metadata"]["account"] == account
            assert int(trigger["metadata"]["lagThreshold"]) >= 1
        assert (
            1
            <= scaled_object["spec"]["minReplicaCount"]
            <= scaled_object["spec"]["maxReplicaCount"]
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_nats_as_their_own_user(overlay: str) -> None:
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    users = set(re.findall(r"\{user: (\w+), password:", accounts))
    config_maps = of_kind(overlay, "ConfigMap")
    for service in SERVICES:
        data = config_maps[service.name]["data"]
        assert data[service.env("nats_user")] == service.name
        assert service.name in users
        assert data[service.env("nats_url")].startswith("nats://")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_routes_to_each_services_kubernetes_service(overlay: str) -> None:
    data = of_kind(overlay, "ConfigMap")["gateway"]["data"]
    routes = json.loads(data[BY_NAME["gateway"].env("routes")])
    assert set(routes) == set(DEFAULT_ROUTES)
    k8s_services = of_kind(overlay, "Service")
    for prefix, upstream in routes.items():
        target = next(s for s in SERVICES if DEFAULT_ROUTES[prefix].endswith(f":{s.port}"))
        assert upstream == f"http://{target.name}:{target.port}"
        assert k8s_services[target.name]["spec"]["ports"][0]["port"] == target.port


def test_the_dev_secrets_are_accepted_by_the_services() -> None:
    """The dev overlay's throwaway keys are long enough for the gateway and the APIs to start."""
    secrets = of_kind("dev", "Secret")

    def value(name: str, key: str) -> bytes:
        return base64.b64decode(secrets[name]["data"][key])

    assert len(value("gateway-jwt", "secret")) >= HMAC_MIN_KEY_BYTES
    assert len(value("tasktracker-internal-actor", "key")) >= MIN_KEY_BYTES
    IngestionSettings(webhook_secret=value("ingestion-webhook", "secret").decode())
