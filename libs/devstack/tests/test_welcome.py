"""`make run`'s banner says where the metrics are; its processes log plain lines."""

from __future__ import annotations

import io

from tasktracker.devstack.run import print_welcome
from tasktracker.devstack.stack import PORTS, WORKER_METRICS_PORTS, Stack
from tasktracker.devstack.supervisor import Console
from tasktracker.servicekit.settings import ServiceSettings

STACK = Stack(
    nats_url="nats://127.0.0.1:4222",
    postgres_url="postgresql://x@h/db",
    webhook_secret="w",
    jwt_secret="j",
)


def test_the_banner_names_every_metrics_address():
    out = io.StringIO()
    print_welcome(Console(out), STACK, 1, "token")
    banner = out.getvalue()
    assert "http://127.0.0.1:8000/metrics" in banner
    for port in WORKER_METRICS_PORTS.values():
        assert f"http://127.0.0.1:{port}/metrics" in banner


def test_make_run_processes_log_plain_lines_and_workers_serve_metrics():
    env = STACK.environment()
    for service in PORTS:
        assert env[f"TT_{service.upper()}_LOG_FORMAT"] == "plain"
    for service, port in WORKER_METRICS_PORTS.items():
        assert env[f"TT_{service.upper()}_WORKER_METRICS_PORT"] == str(port)
    # a deployment's default: JSON lines, no worker port unless configured
    assert ServiceSettings.model_fields["log_format"].default == "json"
