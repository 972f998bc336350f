"""deploy/observability: the Grafana dashboard and the Prometheus alert rules are well formed
and name only metrics the services expose (promtool is not available: structure is checked
here, names against the code's own metric definitions)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tasktracker.gateway.metrics import hub_sample_names
from tasktracker.servicekit.metrics import sample_names

from .conftest import DEPLOY

OBSERVABILITY = DEPLOY / "observability"
METRIC = re.compile(r"\btt_[a-z0-9_]+")


def exposed() -> set[str]:
    return sample_names() | hub_sample_names()


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_the_dashboard_is_grafana_json_with_unique_panels():
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["datasource"]["type"] == "prometheus"


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_every_dashboard_expr_names_metrics_that_exist(expr: str):
    names = set(METRIC.findall(expr))
    assert names, expr
    assert names <= exposed(), names - exposed()
    assert expr.count("(") == expr.count(")"), expr


def test_the_alert_rules_have_the_prometheus_rule_file_shape():
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    assert all(set(group) <= {"name", "rules", "interval"} for group in rules["groups"])
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_names_metrics_that_exist(rule: dict):
    names = set(METRIC.findall(rule["expr"]))
    assert names, rule["expr"]
    assert names <= exposed(), names - exposed()


def test_the_issues_four_alerts_are_there():
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert "tt_outbox_oldest_waiting_seconds" in exprs["TaskTrackerOutboxStuck"]
    assert "tt_jetstream_consumer_pending_messages" in exprs["TaskTrackerConsumerLagGrowing"]
    assert 'outcome="parked"' in exprs["TaskTrackerJobsParked"]
    assert 'status="failed"' in exprs["TaskTrackerRunFailures"]


def test_a_misspelt_metric_would_be_caught():
    assert "tt_outbox_waiting_rows" in exposed()
    assert "tt_outbox_wating_rows" not in exposed()
    assert "tt_http_requests_total" in exposed()
    assert "tt_http_request_duration_seconds_bucket" in exposed()
    assert "tt_gateway_slow_consumer_closes_total" in exposed()


def test_the_compose_scrape_config_covers_every_api_and_worker():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name, container in compose.items():
        command = container.get("command", [])
        if command[-1:] == ["worker"]:
            port = container["environment"][f"TT_{name.split('-')[0].upper()}_WORKER_METRICS_PORT"]
            assert f"{name}:{port}" in targets
        elif command[-1:] == ["api"]:
            assert any(target.startswith(f"{name}:") for target in targets), name
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
