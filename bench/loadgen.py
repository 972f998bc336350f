"""Load generators: `wrk` for the most requests a server answers (closed loop), with a Python
fallback when wrk is missing; and an open-loop generator at a fixed rate.

`wrk` is used when found on PATH (Debian: `apt-get install -y wrk`; `make bench` installs it
when it can). Without it, several client processes each keep keep-alive HTTP/1.1 connections
busy over plain asyncio streams (httpx would measure itself, not the server). Either way every
webhook request carries a distinct update (`bench/telegram.lua` does it in wrk).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import multiprocessing as mp
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path

import httpx
import uvloop

from bench.infra import percentile

SAMPLE = Path(__file__).parents[1] / "services/ingestion/tests/samples/text.json"
LUA = Path(__file__).with_name("telegram.lua")
UPDATE_MARK, MESSAGE_MARK = 900000000001, 900000002


def telegram_update(
    update_id: int, chat_id: int, message_id: int, text: str | None = None
) -> bytes:
    """The sample update (services/ingestion/tests/samples/text.json) with these ids."""
    update = copy.deepcopy(_sample())
    update["update_id"] = update_id
    update["message"]["message_id"] = message_id
    update["message"]["chat"]["id"] = chat_id
    if text is not None:
        update["message"]["text"] = text
    return json.dumps(update).encode()


@functools.cache
def _sample() -> dict:
    return json.loads(SAMPLE.read_text())


def fresh_update_base() -> int:
    """A first update id unlikely to be used by another run (below 2^53: wrk's Lua counts in
    doubles)."""
    return (1 + secrets.randbelow(9 * 10**3)) * 10**9


@dataclass
class Load:
    """What a closed-loop run measured."""

    tool: str
    requests: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @classmethod
    def combined(cls, loads: list[Load]) -> Load:
        """Runs of one load as one: requests, time and statuses summed; each latency
        percentile the median of the runs' (percentiles of runs don't add up)."""
        keys = [k for k in loads[0].latency_ms if all(k in load.latency_ms for load in loads)]
        return cls(
            tool=loads[0].tool,
            requests=sum(load.requests for load in loads),
            seconds=sum(load.seconds for load in loads),
            statuses=sum((load.statuses for load in loads), Counter()),
            latency_ms={k: statistics.median(load.latency_ms[k] for load in loads) for k in keys},
        )

    def summary(self) -> str:
        lat = ", ".join(f"{k} {v:.1f} ms" for k, v in self.latency_ms.items())
        statuses = dict(self.statuses)
        return f"{self.requests} requests, {self.tool}; {lat}; statuses {statuses}"


# -- closed loop: wrk, else Python client processes ---------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def closed_loop(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    webhook_chat: int | None = None,
    connections: int = 16,
    seconds: float = 10,
    force_python: bool = False,
) -> Load:
    """As many requests as `connections` keep-alive connections get answered in `seconds`.
    With `webhook_chat`, each request is a POST of a distinct update in that chat."""
    headers = headers or {}
    if wrk_available() and not force_python:
        return _wrk(url, method, headers, webhook_chat, connections, seconds)
    return _python_closed_loop(url, method, headers, webhook_chat, connections, seconds)


def _wrk(url, method, headers, webhook_chat, connections, seconds) -> Load:
    # wrk's default 2 s timeout counts a slow answer as a socket error: on a busy machine a
    # page of messages can take that long, and it is an answer, not a failure.
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["--timeout", "30s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as template:
        if webhook_chat is not None:
            template.write(telegram_update(UPDATE_MARK, webhook_chat, MESSAGE_MARK))
            template.flush()
            argv += ["-s", str(LUA), url, "--", template.name, str(fresh_update_base())]
        else:
            argv += [url]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> Load:
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    assert done, output
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    requests, seconds = int(done.group(1)), float(done.group(2)) * unit
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    statuses: Counter[int] = Counter({200: requests - failed})
    if failed:
        statuses[0] += failed  # wrk says only "not 2xx/3xx"
    if errors:
        statuses[-1] += sum(int(n) for n in errors.groups())
    latency = {}
    for q, value, unit_ in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        latency[f"p{q}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit_]
    return Load("wrk", requests, seconds, statuses, latency)


class RawConnection:
    """One keep-alive HTTP/1.1 connection: an asyncio protocol that writes a request and reads
    the answer's status and `Content-Length`-framed body, which is what the stack's servers
    send. Asyncio's streams cost the generator more CPU per request than the webhook costs the
    service: a generator that competes with the stack for the machine must be cheap."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        self._protocol: _AnswerReader | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        """The answer's status; raises OSError when the connection breaks."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_AnswerReader, self.host, self.port)
            self._protocol = protocol
        return await protocol.exchange(
            b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n%s"
            % (method.encode(), path.encode(), self.host.encode(), len(body), self.head, body)
        )

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()


class _AnswerReader(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await waiter
        finally:
            self._waiter = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else None])
        if len(self._buffer) < end + 4 + length:
            return
        status = int(self._buffer[9:12])
        del self._buffer[: end + 4 + length]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionResetError("closed by the server"))


def _python_closed_loop(url, method, headers, webhook_chat, connections, seconds) -> Load:
    processes = 2
    ctx = mp.get_context("spawn")
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    with ctx.Pool(processes) as pool:
        args = [
            (url, method, headers, webhook_chat, share, seconds, fresh_update_base())
            for share in shares
            if share
        ]
        results = pool.starmap(_client_process, args)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    elapsed = 0.0
    for counts, lat, took in results:
        statuses.update(counts)
        latencies += lat
        elapsed = max(elapsed, took)
    latency = {f"p{q}": percentile(latencies, q / 100) for q in (50, 90, 99)} if latencies else {}
    return Load("python", len(latencies), elapsed, statuses, latency)


def _client_process(url, method, headers, webhook_chat, connections, seconds, base):
    return uvloop.run(_clients(url, method, headers, webhook_chat, connections, seconds, base))


async def _clients(url, method, headers, webhook_chat, connections, seconds, base):
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    counter = iter(range(10**9))
    if webhook_chat is not None:
        headers = {**headers, "Content-Type": "application/json"}
    started = time.monotonic()
    deadline = started + seconds

    async def one_connection() -> None:
        connection = RawConnection(url, headers)
        try:
            while time.monotonic() < deadline:
                body = b""
                if webhook_chat is not None:
                    n = next(counter)
                    body = telegram_update(base + n, webhook_chat, n + 1)
                sent = time.perf_counter()
                statuses[await connection.request(method, path, body)] += 1
                latencies.append((time.perf_counter() - sent) * 1000)
        finally:
            connection.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return statuses, latencies, time.monotonic() - started


# -- open loop: a fixed rate, whatever the server does -------------------------------------------


@dataclass(frozen=True)
class OpenLoop:
    """Offer `rate` webhook POSTs per second for `seconds`, split over `processes` client
    processes of `connections` keep-alive connections each. Message n (from `first`) is in
    chat `chats[n % len(chats)]` with message_id n + 1."""

    url: str
    headers: dict[str, str]
    rate: float
    seconds: float
    chats: tuple[int, ...]
    first: int = 0
    processes: int = 2
    connections: int = 48


Sent = tuple[int, int, float, int]  # chat_id, message_id, monotonic time of the POST, status
LATE_SECONDS = 0.010


@dataclass
class Offered:
    """What an open-loop run sent, what CPU its own processes used, and how many POSTs went
    out more than LATE_SECONDS after their planned time (no free connection: the server is
    behind; or the generator itself lacked CPU)."""

    sent: list[Sent]
    cpu_seconds: float
    late: int


def open_loop(plan: OpenLoop) -> Offered:
    ctx = mp.get_context("spawn")
    base = fresh_update_base()
    ready = ctx.Barrier(plan.processes)
    with ctx.Pool(plan.processes, initializer=_keep_barrier, initargs=(ready,)) as pool:
        parts = pool.starmap(_open_loop_process, [(plan, i, base) for i in range(plan.processes)])
    return Offered(
        [sent for part, _, _ in parts for sent in part],
        sum(cpu for _, cpu, _ in parts),
        sum(late for _, _, late in parts),
    )


_ready: Barrier | None = None  # the processes of one open loop start their phase together


def _keep_barrier(ready: Barrier) -> None:
    global _ready
    _ready = ready


def _open_loop_process(plan: OpenLoop, index: int, base: int) -> tuple[list[Sent], float, int]:
    # Every body is built before the phase starts, while the stack is idle.
    planned = []
    for k in range(int(plan.rate / plan.processes * plan.seconds)):
        n = plan.first + index + k * plan.processes
        chat = plan.chats[n % len(plan.chats)]
        planned.append((n, chat, telegram_update(base + n, chat, n + 1, text=f"bench message {n}")))
    if _ready is not None:
        _ready.wait()
    # uvloop, as the stack's servers run: the generator shares the machine with the stack.
    return uvloop.run(_open_loop(plan, planned))


async def _open_loop(
    plan: OpenLoop, planned: list[tuple[int, int, bytes]]
) -> tuple[list[Sent], float, int]:
    """What this process sent, the CPU it used, and how many POSTs went late."""
    headers = {**plan.headers, "Content-Type": "application/json"}
    path = httpx.URL(plan.url).raw_path.decode()
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    for _ in range(plan.connections):
        idle.put_nowait(RawConnection(plan.url, headers))
    sent: list[Sent] = []
    rate = plan.rate / plan.processes

    async def post(connection: RawConnection, n: int, chat: int, body: bytes) -> None:
        posted = time.monotonic()
        try:
            status = await connection.request("POST", path, body)
        except OSError:
            status, connection = -1, RawConnection(plan.url, headers)
        sent.append((chat, n + 1, posted, status))
        idle.put_nowait(connection)

    tasks = []
    late = 0
    cpu = time.process_time()
    started = time.monotonic()
    for k in range(len(planned)):
        delay = started + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        connection = await idle.get()  # all busy: this send is late, the rate falls behind
        late += time.monotonic() - (started + k / rate) > LATE_SECONDS
        if time.monotonic() > started + plan.seconds:
            idle.put_nowait(connection)
            break  # the phase is over: what the server did not take in time is not offered
        tasks.append(asyncio.create_task(post(connection, *planned[k])))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return sent, time.process_time() - cpu, late
