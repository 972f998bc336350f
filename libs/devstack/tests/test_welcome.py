"""What `make run` prints once the stack is up: the console's sign-in link, and where the API
document is."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from tasktracker.devstack.run import print_welcome
from tasktracker.devstack.stack import Stack
from tasktracker.devstack.supervisor import Console


def dev_stack() -> Stack:
    return Stack(
        nats_url="nats://127.0.0.1:4222",
        postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
        webhook_secret="s" * 24,
        jwt_secret="j" * 48,
    )


def test_the_banner_links_the_console_with_the_token_in_the_fragment():
    stack = dev_stack()
    out = io.StringIO()
    print_welcome(Console(out), stack, 1, "header.payload.signature")
    line = next(line for line in out.getvalue().splitlines() if "review console" in line)
    link = urlsplit(line.split()[-1])
    gateway = urlsplit(stack.base_url("gateway"))
    assert (link.scheme, link.netloc, link.path) == (gateway.scheme, gateway.netloc, "/")
    assert link.query == ""  # a query would reach the server and its logs; a fragment never does
    assert link.fragment == "token=header.payload.signature"


def test_the_welcome_names_the_public_api_document_the_dev_gateway_serves():
    stack = dev_stack()
    out = io.StringIO()
    print_welcome(Console(out), stack, project_id=7, token="tok")
    text = out.getvalue()
    assert "http://127.0.0.1:8000/openapi.json" in text
    assert "http://127.0.0.1:8000/docs" in text
    # the gateway serves them only with docs on, which the dev stack sets
    assert stack.environment()["TT_GATEWAY_DOCS"] == "true"
