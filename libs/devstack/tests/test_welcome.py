"""What `make run` prints once the stack is up: the console's sign-in link, where the API
document and the metrics are; its processes log plain lines."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from tasktracker.devstack.run import print_welcome
from tasktracker.devstack.stack import PORTS, WORKER_METRICS_PORTS, Stack
from tasktracker.devstack.supervisor import Console
from tasktracker.servicekit.settings import ServiceSettings

STACK = Stack(
    nats_url="nats://127.0.0.1:4222",
    postgres_url="postgresql://127.0.0.1:5432/postgres",
    webhook_secret="hook",
    jwt_secret="j" * 32,
)


def test_the_banner_links_the_console_with_the_token_in_the_fragment():
    out = io.StringIO()
    print_welcome(Console(out), STACK, 1, "header.payload.signature")
    line = next(line for line in out.getvalue().splitlines() if "review console" in line)
    link = urlsplit(line.split()[-1])
    gateway = urlsplit(STACK.base_url("gateway"))
    assert (link.scheme, link.netloc, link.path) == (gateway.scheme, gateway.netloc, "/")
    assert link.query == ""  # a query would reach the server and its logs; a fragment never does
    assert link.fragment == "token=header.payload.signature"


def test_the_welcome_names_the_public_api_document_the_dev_gateway_serves():
    out = io.StringIO()
    print_welcome(Console(out), STACK, project_id=7, token="tok")
    text = out.getvalue()
    assert "http://127.0.0.1:8000/openapi.json" in text
    assert "http://127.0.0.1:8000/docs" in text
    # the gateway serves them only with docs on, which the dev stack sets
    assert STACK.environment()["TT_GATEWAY_DOCS"] == "true"


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
