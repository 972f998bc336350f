"""Throughput of the Telegram webhook (`POST /webhook/telegram`) against a bare FastAPI app.

`tasktracker-ingestion api` runs as `make run` runs it (`bench.stack`), on its own database
and job stream; the baseline is `bench.baseline_app`, a bare FastAPI app parsing the same
body, served by uvicorn with the same settings. Both get the same load for the same time —
distinct updates over keep-alive connections (`bench.loadgen`: wrk, else Python clients) —
and the ratio of their throughputs is the figure (goal ≥ 0.5). Every 200 the webhook gives
is a job JetStream stored.

    uv run python -m bench.webhook --seconds 10 --connections 16
"""

from __future__ import annotations

import argparse

from bench.infra import bench_infra
from bench.loadgen import Load, closed_loop
from bench.report import Figure, print_figures
from bench.stack import BenchStack, running_stack
from tasktracker.devstack.embedded import free_port
from tests.fixtures.processes import ServiceProcess, running

CHAT = -100_999_999_999


def webhook_headers(stack: BenchStack) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": stack.stack.webhook_secret}


def measure(stack: BenchStack, seconds: float, connections: int, python: bool) -> tuple[Load, Load]:
    port = free_port()
    baseline_app = ServiceProcess(
        "baseline-app",
        ["python", "-m", "bench.baseline_app", "--port", str(port)],
        {},
        stack.log_dir,
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )
    base_url = f"http://127.0.0.1:{port}/webhook/telegram"
    hook_url = f"{stack.url('ingestion')}/webhook/telegram"
    hook = webhook_headers(stack)

    def post(url: str, headers: dict[str, str], for_seconds: float) -> Load:
        return closed_loop(
            url,
            method="POST",
            headers=headers,
            webhook_chat=CHAT,
            connections=connections,
            seconds=for_seconds,
            force_python=python,
        )

    with running(baseline_app):
        post(base_url, {}, 2)  # warm-up: first requests pay for imports and connections
        baseline = post(base_url, {}, seconds)
    post(hook_url, hook, 2)
    return post(hook_url, hook, seconds), baseline


def figures(webhook: Load, baseline: Load) -> list[Figure]:
    errors = sum(n for status, n in webhook.statuses.items() if status != 200)
    return [
        Figure("webhook", "webhook throughput", webhook.rate, "req/s", "", webhook.summary()),
        Figure("webhook", "bare FastAPI baseline", baseline.rate, "req/s", "", baseline.summary()),
        Figure("webhook", "webhook / baseline", webhook.rate / baseline.rate, "x", "≥ 0.5"),
        Figure("webhook", "webhook answers other than 200", errors, "", "= 0"),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    args = parser.parse_args(argv or [])
    if not (1 <= args.seconds <= 120 and 1 <= args.connections <= 256):
        parser.error("--seconds must be 1..120 and --connections 1..256")
    with (
        bench_infra() as infra,
        running_stack(infra.nats_url, infra.postgres_url, only=("ingestion",)) as stack,
    ):
        result = figures(*measure(stack, args.seconds, args.connections, args.python_client))
    print_figures(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
