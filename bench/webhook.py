"""Throughput and latency of the Telegram webhook (`POST /webhook/telegram`).

By default it starts `tasktracker-ingestion migrate` and `tasktracker-ingestion api` (uvicorn,
one process) against TT_BENCH_NATS_URL / TT_BENCH_DATABASE_URL (else embedded servers), with a
generated webhook secret and a job stream of its own. It posts a bounded number of distinct,
realistic updates over a fixed number of keep-alive connections — first with a wrong secret
(the baseline: the bare HTTP round trip, refused at the secret check), then for real — and
prints requests/second, latency percentiles and their ratios to the baseline; then it stops
the API and deletes its job stream and database. Every 200 counted is a job JetStream stored.

    uv run python -m bench.webhook --requests 5000 --concurrency 32

Or point it at an API that is already running:

    uv run python -m bench.webhook --url http://127.0.0.1:8001 --secret "$SECRET"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import secrets
import socket
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import nats

from bench.infra import bench_infra
from tasktracker.devstack.embedded import database_url
from tasktracker.servicekit.db import asyncpg_dsn

SAMPLE = Path(__file__).parents[1] / "services/ingestion/tests/samples/text.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def console_script(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)
    return str(beside_python) if beside_python.exists() else name


class ApiUnderTest:
    """`tasktracker-ingestion api` in its own process, on its own database and job stream."""

    def __init__(self, nats_url: str, postgres_url: str) -> None:
        tag = secrets.token_hex(3)
        self.secret = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.nats_url = nats_url
        self.postgres_url = postgres_url
        self.database = f"tt_bench_ingestion_{tag}"
        self.jobs_stream = f"BENCH_INGESTION_{tag}"
        self.env = {
            **os.environ,
            "TT_INGESTION_DATABASE_URL": database_url(postgres_url, self.database),
            "TT_INGESTION_NATS_URL": nats_url,
            "TT_INGESTION_WEBHOOK_SECRET": self.secret,
            "TT_INGESTION_JOBS_STREAM": self.jobs_stream,
            "TT_INGESTION_JOBS_SUBJECT": f"bench.ingestion.{tag}",
            "TT_INGESTION_JOBS_DURABLE": f"bench-{tag}",
            "TT_INGESTION_PORT": str(self.port),
            "TT_INGESTION_LOG_LEVEL": "WARNING",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        script = console_script("tasktracker-ingestion")
        migrate = await asyncio.create_subprocess_exec(script, "migrate", env=self.env)
        if await migrate.wait() != 0:
            raise RuntimeError("tasktracker-ingestion migrate failed")
        self.process = await asyncio.create_subprocess_exec(
            script, "api", env=self.env, start_new_session=True
        )
        async with httpx.AsyncClient(base_url=self.url) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("the API did not become ready within 60 s")

    async def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 20)
        connection = await nats.connect(self.nats_url)
        with contextlib.suppress(Exception):
            js = connection.jetstream()
            await js.delete_stream(self.jobs_stream)
            await js.delete_stream(f"{self.jobs_stream}_DEAD")
        await connection.close()
        admin = await asyncpg.connect(asyncpg_dsn(database_url(self.postgres_url, "postgres")))
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        await admin.close()


def updates(count: int) -> list[bytes]:
    """`count` distinct updates (a fresh update_id and message_id each) in one chat."""
    template = json.loads(SAMPLE.read_text())
    base = secrets.randbelow(10**9) * 10
    bodies = []
    for n in range(count):
        update = copy.deepcopy(template)
        update["update_id"] = base + n
        update["message"]["message_id"] = n + 1
        update["message"]["chat"]["id"] = -1009999999999
        bodies.append(json.dumps(update).encode())
    return bodies


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams.

    httpx tops out near 200 requests/s on a small machine, which measures the client; this
    measures the server. `--client httpx` uses httpx instead, for comparison.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (path.encode(), self.host.encode(), len(body), self.head)
            + body
        )
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run(
    url: str, secret: str, total: int, concurrency: int, warmup: int, client: str
) -> dict:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    bodies = updates(warmup + total)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    http = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30)
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def client_loop(record: bool) -> None:
        raw = RawConnection(url, headers) if client == "raw" else None
        try:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                if raw is not None:
                    status = await raw.post("/webhook/telegram", body)
                else:
                    status = (await http.post("/webhook/telegram", content=body)).status_code
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1
        finally:
            if raw is not None:
                raw.close()

    async with http:
        for body in bodies[:warmup]:
            queue.put_nowait(body)
        await asyncio.gather(*(client_loop(False) for _ in range(concurrency)))
        for body in bodies[warmup:]:
            queue.put_nowait(body)
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "client": client,
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "latency_ms": {
            "mean": round(statistics.fmean(latencies) * 1000, 2),
            "p50": round(pct(50), 2),
            "p90": round(pct(90), 2),
            "p99": round(pct(99), 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "statuses": dict(statuses),
    }


async def measure(args: argparse.Namespace, nats_url: str, postgres_url: str) -> None:
    api = None
    if args.url:
        url, secret = args.url, args.secret or ""
    else:
        api = ApiUnderTest(nats_url, postgres_url)
        await api.start()
        url, secret = api.url, api.secret
    try:
        # Baseline, same server and client: a request refused at the secret check — the bare
        # HTTP round trip, without parsing the update or the durable enqueue.
        baseline = await run(
            url, "not-the-secret", args.requests, args.concurrency, args.warmup, args.client
        )
        result = await run(url, secret, args.requests, args.concurrency, args.warmup, args.client)
    finally:
        if api is not None:
            await api.stop()
    print(json.dumps({"webhook": result, "baseline_401": baseline}, indent=2))
    for name in ("p50", "p99"):
        ratio = result["latency_ms"][name] / baseline["latency_ms"][name]
        print(
            f"webhook {name}: {result['latency_ms'][name]} ms vs baseline "
            f"{baseline['latency_ms'][name]} ms, ratio {ratio:.2f}"
        )
    throughput = result["requests_per_second"] / baseline["requests_per_second"]
    print(
        f"webhook throughput: {result['requests_per_second']}/s vs baseline "
        f"{baseline['requests_per_second']}/s, ratio {throughput:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--url", help="an API already running (else one is started)")
    parser.add_argument("--secret", help="its webhook secret (with --url)")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 200_000:
        parser.error("--requests must be between 1 and 200000")
    with bench_infra() as infra:
        asyncio.run(measure(args, infra.nats_url, infra.postgres_url))


if __name__ == "__main__":
    main()
