"""WebSocket fan-out of one gateway process: sockets held, memory per socket, fan-out time.

A real gateway (`tasktracker-gateway api`, its own process) against real NATS (TT_BENCH_NATS_URL,
else an embedded nats-server). Client processes open N sockets over loopback, each subscribed
to the same project topic. Measured:

* RSS of the gateway process before and after the N sockets subscribed → bytes per socket;
* for each of R events published to JetStream: the time from the publish call until the first
  and until the last of the N sockets held the event frame (CLOCK_MONOTONIC is shared by the
  processes of one machine). Events are spaced out so that each round measures one event.

The baseline, in the same run: `bench.ws_baseline`, a plain `websockets` server holding the
same sockets of the same client processes and sending the same frame with
`websockets.broadcast` on each event of the subject. Goals: the last socket's p50 ≤ 1.5 times the
baseline's, the first socket within a few milliseconds (≤ 5 ms) of the baseline's first.

Run: `uv run python -m bench.ws_fanout [--sockets 2000] [--rounds 30] [--client-processes 2]`.
The clients share the machine's CPUs with the gateway and NATS, so the numbers are an upper
bound of what the gateway alone needs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
import psutil

from bench.infra import percentile
from bench.report import Figure, print_figures
from tasktracker.contracts.events import ChatBound, make_envelope
from tasktracker.devstack.embedded import EmbeddedNats
from tasktracker.gateway.auth import issue_token
from tasktracker.gateway.metrics import parse as parse_metrics
from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

SECRET = "bench-secret-of-the-gateway-at-least-32-bytes"
PROJECT = 990_000_002
TOPIC = f"space:{PROJECT}:messages"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- client processes --------------------------------------------------------------------------


def client_process(url: str, token: str, sockets: int, rounds: int, conn) -> None:
    asyncio.run(_client(url, token, sockets, rounds, conn))


async def _client(url: str, token: str, sockets: int, rounds: int, conn) -> None:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(100)  # do not overrun the listen backlog

    async def open_one():
        async with gate:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                ping_interval=None,
                open_timeout=60,
                max_size=2**20,
            )
            await ws.send(json.dumps({"type": "subscribe", "id": "b", "topic": TOPIC}))
            answer = json.loads(await ws.recv())
            assert answer["type"] == "subscribed", answer
            return ws

    conns = await asyncio.gather(*(open_one() for _ in range(sockets)))
    conn.send("ready")
    arrivals: list[list[float]] = [[] for _ in range(rounds)]

    async def read(ws) -> None:
        for _ in range(rounds):
            frame = json.loads(await ws.recv())
            arrivals[frame["event"]["data"]["chat_id"]].append(time.monotonic())

    await asyncio.gather(*(read(ws) for ws in conns))
    conn.send(arrivals)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


# -- the run ---------------------------------------------------------------------------------


def start_baseline(nats_url: str, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "bench.ws_baseline", "--port", str(port)]
    argv += ["--nats-url", nats_url, "--project", str(PROJECT)]
    return subprocess.Popen(argv, start_new_session=True)


def start_gateway(nats_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TT_GATEWAY_NATS_URL": nats_url,
        "TT_GATEWAY_JWT_SECRET": SECRET,
        # The gateway refuses to start without the key it signs callers with (no call here
        # reaches a service: any key of the right length).
        "TT_INTERNAL_ACTOR_KEY": secrets.token_hex(32),
        "TT_GATEWAY_PORT": str(port),
        "TT_GATEWAY_LOG_LEVEL": "WARNING",
        "TT_GATEWAY_METRICS": "public",  # read below; admin-only by default
        # every bench socket comes from one address with one token
        "TT_GATEWAY_MAX_SOCKETS_PER_TOKEN": "20000",
        "TT_GATEWAY_MAX_SOCKETS_PER_CLIENT": "20000",
    }
    gateway_bin = str(Path(sys.executable).with_name("tasktracker-gateway"))
    return subprocess.Popen([gateway_bin, "api"], env=env, start_new_session=True)


async def measure(
    nats_url: str, port: int, pid: int, sockets: int, rounds: int, processes: int, gateway: bool
) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("gateway did not start")
        proc = psutil.Process(pid)
        await asyncio.sleep(1)
        rss_before = proc.memory_info().rss

        token = issue_token(SECRET, sub="bench", projects={PROJECT: "viewer"})
        ctx = mp.get_context("spawn")
        shares = [sockets // processes + (i < sockets % processes) for i in range(processes)]
        pipes, children = [], []
        started = time.monotonic()
        for share in shares:
            parent, child = ctx.Pipe()
            worker = ctx.Process(
                target=client_process,
                args=(f"ws://127.0.0.1:{port}/ws", token, share, rounds, child),
            )
            worker.start()
            pipes.append(parent)
            children.append(worker)
        loop = asyncio.get_running_loop()
        for pipe in pipes:
            assert await loop.run_in_executor(None, pipe.recv) == "ready"
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(2)
        rss_after = proc.memory_info().rss
        stats = {"tt_gateway_sockets": sockets, "tt_gateway_subscriptions": sockets}
        if gateway:
            metrics = await http.get("/metrics")
            stats = parse_metrics(metrics.raise_for_status().text)

        client = await nats.connect(nats_url)
        js = client.jetstream()
        await ensure_space_stream(js, NatsSettings(nats_url=nats_url))
        published: list[float] = []
        cpu_before = sum(proc.cpu_times()[:2])
        for n in range(rounds):
            envelope = make_envelope(
                ChatBound(chat_id=n, released_parked=0), project_id=PROJECT, producer="bench"
            )
            published.append(time.monotonic())
            await js.publish(
                envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
            )
            await asyncio.sleep(0.5)  # one event at a time: each round measures one fan-out
        results = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
        cpu_per_event = (sum(proc.cpu_times()[:2]) - cpu_before) / rounds
        for worker in children:
            worker.join(30)
        await client.close()

    first, last, all_deliveries = [], [], []
    for n in range(rounds):
        arrivals = [t for result in results for t in result[n]]
        assert len(arrivals) == sockets, (n, len(arrivals))
        first.append(min(arrivals) - published[n])
        last.append(max(arrivals) - published[n])
        all_deliveries += [t - published[n] for t in arrivals]
    return {
        "sockets": int(stats["tt_gateway_sockets"]),
        "subscriptions": int(stats["tt_gateway_subscriptions"]),
        "connect_seconds": connect_seconds,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "rss_per_socket_kb": (rss_after - rss_before) / sockets / 1024,
        "gateway_cpu_ms_per_event": cpu_per_event * 1000,
        "first_ms": first,
        "last_ms": last,
        "all_ms": all_deliveries,
    }


def run_one(start, nats_url: str, sockets: int, rounds: int, processes: int) -> dict:
    port = free_port()
    server = start(nats_url, port)
    try:
        gateway = start is start_gateway
        return asyncio.run(measure(nats_url, port, server.pid, sockets, rounds, processes, gateway))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def run(sockets: int = 2000, rounds: int = 30, processes: int = 2) -> list[Figure]:
    with contextlib.ExitStack() as stack:
        nats_url = os.environ.get("TT_BENCH_NATS_URL")
        if not nats_url:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tt-bench-"))
            server = EmbeddedNats(Path(tmp) / "nats")
            nats_url = server.start()
            stack.callback(server.stop)
        result = run_one(start_gateway, nats_url, sockets, rounds, processes)
        baseline = run_one(start_baseline, nats_url, sockets, rounds, processes)

    def ms(of: dict, key: str, q: float) -> float:
        return percentile(of[key], q) * 1000

    cpu = result["gateway_cpu_ms_per_event"]
    print(
        f"sockets held by one gateway process: {result['sockets']} "
        f"({result['subscriptions']} subscriptions), opened in {result['connect_seconds']:.1f} s"
    )
    print(
        f"gateway RSS: {result['rss_before_mb']:.1f} MB idle -> {result['rss_after_mb']:.1f} MB "
        f"= {result['rss_per_socket_kb']:.1f} KB per socket"
    )
    for name, of in (("gateway", result), ("baseline (websockets.broadcast)", baseline)):
        print(
            f"{name}: fan-out of one event to all {sockets} sockets ({rounds} events): last "
            f"socket p50 {ms(of, 'last_ms', 0.5):.1f} ms, p90 {ms(of, 'last_ms', 0.9):.1f} ms, "
            f"max {ms(of, 'last_ms', 1.0):.1f} ms; first socket p50 {ms(of, 'first_ms', 0.5):.1f} "
            f"ms; median delivery {ms(of, 'all_ms', 0.5):.1f} ms"
        )
    print(
        f"gateway CPU per event fanned out: {cpu:.1f} ms ({cpu * 1000 / sockets:.0f} µs per socket)"  # type: ignore[operator]
    )
    last, last_base = ms(result, "last_ms", 0.5), ms(baseline, "last_ms", 0.5)
    first, first_base = ms(result, "first_ms", 0.5), ms(baseline, "first_ms", 0.5)
    figures = [
        Figure("fan-out", f"{sockets} sockets: last socket p50", last, "ms", "",
               f"baseline {last_base:.1f} ms"),
        Figure("fan-out", "last socket p50 / baseline", last / last_base, "x", "≤ 1.5"),
        Figure("fan-out", "first socket p50 minus baseline's", first - first_base, "ms", "≤ 5",
               f"{first:.1f} vs {first_base:.1f} ms"),
        Figure("fan-out", "gateway RSS per socket", result["rss_per_socket_kb"], "KB", ""),
    ]  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    """`python -m bench` runs the defaults; `python -m bench.ws_fanout --sockets N` varies them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args(argv or [])
    if not (1 <= args.sockets <= 20_000 and 1 <= args.rounds <= 1000):
        parser.error("--sockets must be 1..20000 and --rounds 1..1000")
    figures = run(args.sockets, args.rounds, max(1, args.client_processes))
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
