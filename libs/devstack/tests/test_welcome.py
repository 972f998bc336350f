"""What `make run` prints once the stack is up: among the rest, where the API document is."""

from __future__ import annotations

import io

from tasktracker.devstack.run import print_welcome
from tasktracker.devstack.stack import Stack
from tasktracker.devstack.supervisor import Console


def test_the_welcome_names_the_public_api_document_the_dev_gateway_serves():
    stack = Stack(
        nats_url="nats://127.0.0.1:4222",
        postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
        webhook_secret="s" * 24,
        jwt_secret="j" * 48,
    )
    out = io.StringIO()
    print_welcome(Console(out), stack, project_id=7, token="tok")
    text = out.getvalue()
    assert "http://127.0.0.1:8000/openapi.json" in text
    assert "http://127.0.0.1:8000/docs" in text
    # the gateway serves them only with docs on, which the dev stack sets
    assert stack.environment()["TT_GATEWAY_DOCS"] == "true"
