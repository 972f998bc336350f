"""`make demo`: the whole flow over the gateway as a PM would drive it — extract knowledge and
approve it, run an analysis, decide every proposal by a visible rule, close the run — printing
each event of the project's space as it arrives, then a summary."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import jwt
import websockets

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.devstack.demo import DEMO_PROJECT, find_demo_project
from tasktracker.devstack.demo_print import Summary, event_line

WINDOW = timedelta(days=30)
APPROVE_FROM = 0.7  # the demo's rule, printed before it is applied
RULE = (
    "merge into the task review suggests (a similar task or an approved twin); else approve "
    f"when confidence >= {APPROVE_FROM}; else reject"
)


class DemoFailed(Exception):
    """A step answered what the demo did not expect; the message says which."""


class EventFeed:
    """The project's whole space over a real WebSocket; prints each event as it arrives."""

    def __init__(self, ws_url: str, token: str, project_id: int, out: TextIO) -> None:
        self.url, self.token, self.project_id, self.out = ws_url, token, project_id, out
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> EventFeed:
        headers = {"Authorization": f"Bearer {self.token}"}
        self._socket = await websockets.connect(self.url, additional_headers=headers)
        topic = f"space:{self.project_id}:*"
        await self._socket.send(json.dumps({"type": "subscribe", "id": "demo", "topic": topic}))
        answer = json.loads(await asyncio.wait_for(self._socket.recv(), 15))
        if answer.get("type") != "subscribed":
            raise DemoFailed(f"subscribing to {topic}: {answer}")
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._reader.cancel()
        await self._socket.close()

    async def _read(self) -> None:
        async for raw in self._socket:
            frame = json.loads(raw)
            if frame.get("type") != "event":
                continue
            print(event_line(frame["seq"], frame["event"]), file=self.out, flush=True)
            async with self._changed:
                self.events.append(frame["event"])
                self._changed.notify_all()

    def of(self, kind: str, **data: object) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items())
        ]

    async def wait(self, done: Callable[[], bool], what: str, within: float = 120) -> None:
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise DemoFailed(f"no {what} within {within:.0f} s") from None


async def run_demo(
    gateway_url: str, token: str, project_id: int, out: TextIO
) -> tuple[Summary, str]:
    """The flow for `project_id` with a pm (or admin) `token`; the summary and the run's id."""
    started = time.monotonic()
    summary = Summary()
    ws_url = gateway_url.replace("http", "ws", 1) + "/ws"
    headers = {"Authorization": f"Bearer {token}"}
    api = f"/api/projects/{project_id}"
    async with (
        httpx.AsyncClient(base_url=gateway_url + api, headers=headers, timeout=30) as pm,
        EventFeed(ws_url, token, project_id, out) as feed,
    ):
        summary.messages = await _count_messages(pm)
        say(out, f"== project {project_id}: {summary.messages} messages; extracting knowledge")
        summary.topics, summary.atoms = await _knowledge(pm, feed, out)
        say(out, "== analysis run over the last 30 days")
        run_id = await _analysis(pm, feed, out)
        summary.proposals = feed.of("run_completed", run_id=run_id)[0]["data"]["proposals_total"]
        say(out, f"== deciding {summary.proposals} proposals; rule: {RULE}")
        summary.decisions = await _decide(pm, run_id)
        await feed.wait(lambda: bool(feed.of("run_reviewed", run_id=run_id)), "run_reviewed")
        closed = await pm.put(f"/runs/{run_id}/close")
        _expect(closed, 200, "closing the run")
        await feed.wait(lambda: bool(feed.of("run_closed", run_id=run_id)), "run_closed")
        summary.metrics = closed.json()["metrics"]
        summary.events = len(feed.events)
    summary.seconds = time.monotonic() - started
    return summary, run_id


def say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


def _expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise DemoFailed(f"{what}: {answer.status_code} {answer.text}")


async def _pages(client: httpx.AsyncClient, path: str, **params: object) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, params=query)
        _expect(answer, 200, f"GET {path}")
        body = answer.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


async def _count_messages(pm: httpx.AsyncClient) -> int:
    return len(await _pages(pm, "/messages"))


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"start": (now - WINDOW).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()}


async def _knowledge(pm: httpx.AsyncClient, feed: EventFeed, out: TextIO) -> tuple[int, int]:
    window = _window()
    asked = await pm.post(
        "/knowledge/extract", json={"since": window["start"], "until": window["end"]}
    )
    _expect(asked, 202, "starting an extraction")
    extraction = asked.json()["extraction_id"]
    await feed.wait(
        lambda: bool(
            feed.of("extraction_completed", extraction_id=extraction)
            or feed.of("extraction_failed", extraction_id=extraction)
        ),
        "end of the extraction",
    )
    if failed := feed.of("extraction_failed", extraction_id=extraction):
        raise DemoFailed(f"the extraction failed: {failed[0]['data']['error']}")
    pending = await _pages(pm, "/knowledge/proposals", status="pending", extraction_id=extraction)
    ids = [p["id"] for p in pending]
    say(out, f"== approving every topic and atom proposed ({len(ids)})")
    if ids:
        _expect(
            await pm.post("/knowledge/proposals/approve", json={"ids": ids}),
            200,
            "approving the knowledge",
        )
    topics = sum(p["kind"] == "topic" for p in pending)
    atoms = len(ids) - topics
    await feed.wait(
        lambda: len(feed.of("topic_created")) >= topics and len(feed.of("atom_created")) >= atoms,
        "topic_created / atom_created for every approval",
    )
    return topics, atoms


async def _analysis(pm: httpx.AsyncClient, feed: EventFeed, out: TextIO) -> str:
    window = _window()
    body = {"window_start": window["start"], "window_end": window["end"]}
    created = await pm.post("/runs", json=body)
    if created.status_code == 409 and "run_id" in created.json()["error"]["details"]:
        earlier = created.json()["error"]["details"]["run_id"]
        say(out, f"== an earlier run {earlier} is not closed: cancelling it")
        _expect(
            await pm.post(f"/runs/{earlier}/cancel", json={"reason": "make demo"}), 200, "cancel"
        )
        created = await pm.post("/runs", json=body)
    _expect(created, 201, "creating a run")
    run_id = created.json()["id"]
    _expect(await pm.post(f"/runs/{run_id}/start"), 202, "starting the run")
    await feed.wait(
        lambda: bool(
            feed.of("run_completed", run_id=run_id) or feed.of("run_failed", run_id=run_id)
        ),
        "end of the run",
    )
    if failed := feed.of("run_failed", run_id=run_id):
        raise DemoFailed(f"the run failed: {failed[0]['data']['error']}")
    return run_id


async def _decide(pm: httpx.AsyncClient, run_id: str) -> dict[str, int]:
    total = None
    deadline = time.monotonic() + 60
    while True:  # review learns the proposals from the run's events
        run = (await pm.get(f"/runs/{run_id}")).json()
        total = run["counters"]["proposals_total"]
        listed = await _pages(pm, "/proposals", run_id=run_id)
        if len(listed) >= total:
            break
        if time.monotonic() > deadline:
            raise DemoFailed(f"review shows {len(listed)} of {total} proposals")
        await asyncio.sleep(0.3)
    decided = {"approved": 0, "rejected": 0, "merged": 0}
    for item in listed:
        proposal = (await pm.get(f"/proposals/{item['id']}")).json()  # suggestions are current
        if proposal["status"] != "pending":
            continue
        if proposal["suggested_task_id"] is not None:
            answer = await pm.put(
                f"/proposals/{item['id']}/merge", json={"task_id": proposal["suggested_task_id"]}
            )
            kind = "merged"
        elif proposal["confidence"] >= APPROVE_FROM:
            answer, kind = await pm.put(f"/proposals/{item['id']}/approve"), "approved"
        else:
            reason = f"demo rule: confidence {proposal['confidence']} < {APPROVE_FROM}"
            answer = await pm.put(f"/proposals/{item['id']}/reject", json={"reason": reason})
            kind = "rejected"
        _expect(answer, 200, f"{kind} {item['id']}")
        decided[kind] += 1
    return decided


def demo_against_make_run(root: Path, out: TextIO) -> int:
    """`make demo`: the running `make run` of this folder, found as `tasktracker-gateway token`
    finds its secret — in `.data/`."""
    data = root / ".data"
    lock, secrets_file = data / "run.lock", data / "secrets.json"
    gateway = _running_gateway(lock)
    if gateway is None or not secrets_file.exists():
        say(out, "make demo: no `make run` is running in this folder; start it first.")
        return 1
    secret = json.loads(secrets_file.read_text())["jwt_secret"]
    try:
        return asyncio.run(_demo(gateway, secret, out))
    except (DemoFailed, httpx.HTTPError, OSError) as exc:
        say(out, f"make demo: {exc}")
        return 1


def _running_gateway(lock: Path) -> str | None:
    try:
        facts = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        return None
    return facts.get("gateway") if isinstance(facts, dict) else None


async def _demo(gateway: str, secret: str, out: TextIO) -> int:
    def sign(sub: str, projects: dict[int, Role], admin: bool = False) -> str:
        claims = Claims(sub=sub, projects=projects, admin=admin, exp=int(time.time()) + 3600)
        return jwt.encode(claims.to_jwt_payload(), secret, algorithm="HS256")

    admin = {"Authorization": f"Bearer {sign('make-demo', {}, admin=True)}"}
    async with httpx.AsyncClient(base_url=gateway, headers=admin, timeout=10) as client:
        project_id = await find_demo_project(client)
    if project_id is None:
        say(out, f"make demo: no project {DEMO_PROJECT!r}; has `make run` finished starting?")
        return 1
    summary, run_id = await run_demo(
        gateway, sign("demo-pm", {project_id: Role.pm}), project_id, out
    )
    for line in summary.lines(project_id, run_id):
        say(out, line)
    return 0
