"""The gateway's REST proxy: throughput through the gateway against calling the service directly.

The gateway and `tasktracker-ingestion api` run as `make run` runs them (`bench.stack`). Two
requests, each measured directly and through the gateway with the same load for the same
time (`bench.loadgen`: wrk, else Python clients): the webhook (distinct updates; public, no
token) and `GET /api/projects/{pid}/messages` (a page of 50 stored messages; a viewer's
bearer token through the gateway). The ratio gateway / direct is the figure (goal ≥ 0.7).
The time is cut into rounds, the two sides taking turns (direct, gateway, gateway, direct,
…): on a shared host the machine's speed drifts, by half within minutes here, and one side
measured after the other took the drift for the gateway's cost. The ratio is over all
rounds; each round's is printed next to it.
Next to each ratio, the gateway's CPU per request and the service's (psutil, the process
and its children): on a shared machine they move much less than the rates.
The worker stores the messages the GET reads, then is stopped so that it does not take CPU
from the measured processes.

    uv run python -m bench.proxy --seconds 10 --connections 16 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import httpx

from bench.infra import bench_infra
from bench.loadgen import Load, closed_loop, fresh_update_base, telegram_update
from bench.report import Figure, print_figures
from bench.stack import BenchStack, bind_chat, running_stack
from tasktracker.contracts.enums import Role
from tests.fixtures.actor import SignedActor, signed_actor_headers

CHAT = -100_888_000_001
SEEDED = 100


async def create_bound_project(stack: BenchStack) -> int:
    """A project with CHAT bound to it, by a global admin through the gateway
    (`POST /api/ingestion/bindings`, the one binding endpoint of a global admin)."""
    admin = stack.token("bench", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.url("gateway"), headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ) as rest:
        created = await rest.post("/api/projects", json={"name": "bench proxy"})
        project = created.raise_for_status().json()["id"]
        await bind_chat(rest, project, CHAT)
    return project


async def seed(stack: BenchStack) -> tuple[int, str]:
    """A project with SEEDED stored messages; its id and a viewer's token."""
    project = await create_bound_project(stack)
    hook = {"X-Telegram-Bot-Api-Secret-Token": stack.stack.webhook_secret}
    base = fresh_update_base()
    signed = SignedActor("bench", key=stack.internal_actor_key)
    async with httpx.AsyncClient(
        base_url=stack.url("ingestion"), auth=signed, timeout=30
    ) as client:
        for n in range(SEEDED):
            body = telegram_update(base + n, CHAT, n + 1)
            (await client.post("/webhook/telegram", content=body, headers=hook)).raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            page = await client.get(f"/api/projects/{project}/messages", params={"limit": 500})
            if len(page.json()["items"]) >= SEEDED:
                break
            await asyncio.sleep(0.5)
    return project, stack.token("bench-viewer", {project: Role.viewer})


def measure(
    stack: BenchStack, seconds: float, connections: int, python: bool, rounds_of: int
) -> list[Figure]:
    project, token = asyncio.run(seed(stack))
    stack.stop("ingestion-worker")
    hook = {"X-Telegram-Bot-Api-Secret-Token": stack.stack.webhook_secret}
    messages = f"/api/projects/{project}/messages"
    bearer = {"Authorization": f"Bearer {token}"}

    def signed_caller() -> dict[str, str]:
        # Direct, the gateway's signed caller: one token per round, as a token is bound to one
        # request id and valid for 60 s, shorter than a run of both cases at --seconds 20.
        return signed_actor_headers("GET", messages, "bench-viewer", key=stack.internal_actor_key)

    cases: dict[str, tuple[str, str, Callable[[], dict[str, str]], Callable[[], dict[str, str]]]]
    cases = {
        "webhook": ("/webhook/telegram", "POST", lambda: hook, lambda: hook),
        "GET messages": (messages, "GET", signed_caller, lambda: bearer),
    }
    figures = []
    for case, (path, method, direct_headers, gateway_headers) in cases.items():
        sides = {
            "direct": (stack.url("ingestion") + path, direct_headers),
            "gateway": (stack.url("gateway") + path, gateway_headers),
        }

        options = {
            "method": method,
            "webhook_chat": CHAT if method == "POST" else None,
            "connections": connections,
            "force_python": python,
        }
        for url, headers in sides.values():
            closed_loop(url, headers=headers(), seconds=2, **options)  # warm-up
        rounds: dict[str, list[Load]] = {via: [] for via in sides}
        cpu_seconds: dict[tuple[str, str], float] = {}
        for turn in range(rounds_of):
            # direct, gateway, gateway, direct, …: the machine's speed, which drifts on a
            # shared host, weighs on both sides alike.
            for via in sides if turn % 2 == 0 else reversed(sides):
                cpu_before = stack.cpu_seconds()
                url, headers = sides[via]
                rounds[via].append(
                    closed_loop(url, headers=headers(), seconds=seconds / rounds_of, **options)
                )
                cpu_after = stack.cpu_seconds()
                for name in ("gateway", "ingestion"):
                    used = cpu_after[name] - cpu_before[name]
                    cpu_seconds[(via, name)] = cpu_seconds.get((via, name), 0.0) + used
        loads = {via: Load.combined(runs) for via, runs in rounds.items()}
        cpu_ms = {
            (via, name): used * 1000 / loads[via].requests
            for (via, name), used in cpu_seconds.items()
            if loads[via].requests and (via == "gateway" or name != "gateway")
        }
        per_round = " ".join(
            f"{g.rate / d.rate:.2f}"
            for d, g in zip(rounds["direct"], rounds["gateway"], strict=True)
        )
        direct, gateway = loads["direct"], loads["gateway"]
        figures += [
            Figure("proxy", f"{case} direct", direct.rate, "req/s", "", direct.summary()),
            Figure("proxy", f"{case} via gateway", gateway.rate, "req/s", "", gateway.summary()),
            Figure(
                "proxy",
                f"{case} gateway / direct",
                gateway.rate / direct.rate,
                "x",
                "≥ 0.7",
                f"all {rounds_of} rounds' requests over their time; round by round {per_round}",
            ),
            Figure(
                "proxy",
                f"{case} gateway CPU per request",
                cpu_ms.get(("gateway", "gateway")),
                "ms",
                "",
                f"the service's: {cpu_ms.get(('direct', 'ingestion'), 0):.2f} ms direct, "
                f"{cpu_ms.get(('gateway', 'ingestion'), 0):.2f} ms behind the gateway",
            ),
            Figure(
                "proxy",
                f"{case} answers other than 200",
                sum(n for s, n in (direct.statuses + gateway.statuses).items() if s != 200),
                "",
                "= 0",
            ),
        ]
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="turns of each side, alternated")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    args = parser.parse_args(argv or [])
    if not (1 <= args.seconds <= 120 and 1 <= args.connections <= 256):
        parser.error("--seconds must be 1..120 and --connections 1..256")
    if not 1 <= args.rounds <= args.seconds:
        parser.error("--rounds must be 1..--seconds (a round of each side lasts a second or more)")
    processes = ("gateway", "ingestion", "ingestion-worker")
    with (
        bench_infra() as infra,
        running_stack(infra.nats_url, infra.postgres_url, only=processes) as stack,
    ):
        result = measure(stack, args.seconds, args.connections, args.python_client, args.rounds)
    print_figures(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
