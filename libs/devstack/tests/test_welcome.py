"""What `make run` prints once everything is up: the console's sign-in link first."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from tasktracker.devstack.run import print_welcome
from tasktracker.devstack.stack import Stack
from tasktracker.devstack.supervisor import Console


def test_the_banner_links_the_console_with_the_token_in_the_fragment():
    stack = Stack(
        nats_url="nats://127.0.0.1:4222",
        postgres_url="postgresql://127.0.0.1:5432/postgres",
        webhook_secret="hook",
        jwt_secret="j" * 32,
    )
    out = io.StringIO()
    print_welcome(Console(out), stack, 1, "header.payload.signature")
    line = next(line for line in out.getvalue().splitlines() if "review console" in line)
    link = urlsplit(line.split()[-1])
    gateway = urlsplit(stack.base_url("gateway"))
    assert (link.scheme, link.netloc, link.path) == (gateway.scheme, gateway.netloc, "/")
    assert link.query == ""  # a query would reach the server and its logs; a fragment never does
    assert link.fragment == "token=header.payload.signature"
