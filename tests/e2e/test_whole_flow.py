"""The seed's whole flow through the gateway only, with the five services as real processes and
real WebSocket clients subscribed to `space:<pid>:*` (issue 11): chat → knowledge → an analysis
run whose worker is killed mid-run → every proposal decided → the run closed; a second
project's socket sees none of it and its token finds none of it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import nats
import pytest

from tasktracker.contracts.enums import Role
from tasktracker.servicekit.db import asyncpg_dsn
from tests.fixtures.space_socket import SpaceSocket

pytestmark = pytest.mark.e2e

CHAT_1, CHAT_2 = -100_888_000_001, -100_888_000_002
# Six conversations 15 minutes apart (the batch gap is 10): six batches, each asking for work.
CONVERSATIONS = [
    ("anna", "@boris please fix the checkout timeout before Friday, it blocks the release."),
    ("boris", "Bug: the payment webhook times out with a 504 under load."),
    ("chen", "Can you add retry logging to the payment webhook?"),
    ("anna", "Decision: we ship the order summary page behind a feature flag."),
    ("dara", "I'll update the order summary mockups tomorrow."),
    ("boris", "We agreed the feature flag stays on for beta users."),
    ("chen", "Could you write the release notes for the checkout release?"),
    ("anna", "TODO: rotate the staging database password."),
    ("boris", "Need to upgrade the payment SDK, the old one is deprecated."),
    ("dara", "Looks like the promo code field is broken on mobile Safari."),
    ("anna", "Please review the promo code fix today."),
    ("chen", "Thanks all, good week!"),
]
PEOPLE = {
    "anna": {"id": 6001, "first_name": "Anna", "username": "anna_pm"},
    "boris": {"id": 6002, "first_name": "Boris", "username": "boris_dev"},
    "chen": {"id": 6003, "first_name": "Chen", "username": "chen_qa"},
    "dara": {"id": 6004, "first_name": "Dara", "username": "dara_design"},
}
EDITED_TEXT = "@boris please fix the checkout timeout before Thursday, it blocks the release."


def chat_updates(chat_id: int, start: datetime) -> list[dict]:
    updates = []
    for index, (who, text) in enumerate(CONVERSATIONS, start=1):
        sent = start + timedelta(minutes=15 * ((index - 1) // 2) + (index - 1) % 2)
        message = {
            "message_id": index,
            "date": int(sent.timestamp()),
            "chat": {"id": chat_id, "type": "supergroup", "title": "e2e squad"},
            "from": {"is_bot": False, **PEOPLE[who]},
            "text": text,
        }
        if index % 2 == 0:
            message["reply_to_message"] = {**updates[-1]["message"]}
        updates.append({"update_id": 8_800_000 + index, "message": message})
    edit = {**updates[0]["message"], "text": EDITED_TEXT, "edit_date": int(start.timestamp()) + 60}
    updates.append({"update_id": 8_800_100, "edited_message": edit})
    return updates


async def eventually(get, check, what: str, seconds: float = 60.0):
    """Poll a REST read until `check` holds (read models catch up asynchronously)."""
    value = None
    try:
        async with asyncio.timeout(seconds):
            while True:
                value = await get()
                if check(value):
                    return value
                await asyncio.sleep(0.2)
    except TimeoutError:
        shown = getattr(value, "text", value)
        raise AssertionError(f"{what}: not within {seconds} s; last answer {shown!r}") from None


def run_events(socket: SpaceSocket, run_id: str) -> list[dict]:
    return [
        e for e in socket.events if e["topic"] == "analysis_runs" and e["data"]["run_id"] == run_id
    ]


async def test_whole_flow_through_the_gateway(whole_stack):
    stack = whole_stack
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=20
    ) as root:
        p1 = (await root.post("/api/projects", json={"name": "e2e whole one"})).json()["id"]
        p2 = (await root.post("/api/projects", json={"name": "e2e whole two"})).json()["id"]
        pm_1 = stack.token("pm-one", {p1: Role.pm})
        pm_2 = stack.token("pm-two", {p2: Role.pm})
        async with (
            SpaceSocket(stack.ws_url, pm_1, p1) as space_1,
            SpaceSocket(stack.ws_url, pm_2, p2) as space_2,
            httpx.AsyncClient(
                base_url=stack.gateway_url, headers={"Authorization": f"Bearer {pm_1}"}, timeout=20
            ) as pm,
        ):
            for project, chat in ((p1, CHAT_1), (p2, CHAT_2)):
                bound = await root.post(
                    "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat}
                )
                assert bound.status_code == 201, bound.text
            try:
                ids = await _chat_arrives(stack, space_1)
                await _knowledge(pm, p1, ids, space_1)
                run_id = await _run_with_a_killed_worker(stack, pm, p1, space_1)
                await _decide_and_close(pm, p1, run_id, space_1)
            except BaseException:
                print(stack.logs())
                raise
            # 6. project two's socket, subscribed all along: its own binding, nothing of p1
            assert {e["project_id"] for e in space_2.events} <= {p2}
            assert [e["type"] for e in space_2.events] == ["ingestion.chat_bound"]
            seqs = [e["seq"] for e in space_1.events]
            assert len(seqs) == len(set(seqs)), "an event reached the socket twice"
            assert len({e["id"] for e in space_1.events}) == len(seqs)
            await _another_token_finds_nothing(stack, p1, p2, run_id, space_1)


async def _chat_arrives(stack, space: SpaceSocket) -> list[int]:
    """1. Telegram updates on the webhook → `message.updated` on the socket."""
    start = datetime.now(UTC) - timedelta(hours=2)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as telegram:
        for update in chat_updates(CHAT_1, start):
            sent = await telegram.post(
                "/webhook/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret},
            )
            assert sent.status_code == 200, sent.text

    # Each message's latest version: when the original and its edit land in one batch, the
    # worker stores (and announces) only the edit, the state storing them one by one gives.
    final = {n: text for n, (_, text) in enumerate(CONVERSATIONS, start=1)} | {1: EDITED_TEXT}

    def arrived(s: SpaceSocket) -> bool:
        latest = {}
        for event in s.of("message.updated"):
            latest[event["data"]["message"]["message_id"]] = event["data"]["message"]["text"]
        return latest == final

    try:
        await space.wait_for(arrived, what="every message and the edit")
    except AssertionError as exc:  # which stage stopped: the stream, the worker, the events
        raise AssertionError(f"{exc}; {await _updates_state(stack)}") from None
    return sorted({e["data"]["message"]["id"] for e in space.of("message.updated")})


async def _updates_state(stack) -> str:
    env = stack.env
    client = await nats.connect(env["TT_INGESTION_NATS_URL"])
    try:
        js = client.jetstream()
        stream = await js.stream_info(env["TT_INGESTION_UPDATES_STREAM"])
        consumer = await js.consumer_info(
            env["TT_INGESTION_UPDATES_STREAM"], env["TT_INGESTION_UPDATES_DURABLE"]
        )
    finally:
        await client.close()
    conn = await asyncpg.connect(asyncpg_dsn(env["TT_INGESTION_DATABASE_URL"]))
    try:
        stored = await conn.fetchval("SELECT count(*) FROM messages WHERE chat_id = $1", CHAT_1)
        parked = await conn.fetchval(
            "SELECT count(*) FROM parked_updates WHERE chat_id = $1 AND released_at IS NULL",
            CHAT_1,
        )
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    state = stream.state
    return (
        f"updates stream: {state.messages} held, last seq {state.last_seq}; consumer: "
        f"delivered {consumer.delivered.stream_seq}, ack floor {consumer.ack_floor.stream_seq}, "
        f"pending {consumer.num_pending}, ack pending {consumer.num_ack_pending}, "
        f"waiting pulls {consumer.num_waiting}; chat's messages stored: {stored}, parked: "
        f"{parked}; "
        f"outbox rows unpublished: {unpublished}"
    )


async def _knowledge(pm: httpx.AsyncClient, project: int, ids: list[int], space: SpaceSocket):
    """2. extract → `proposals_created`; approve every topic and atom → created events."""
    base = f"/api/projects/{project}/knowledge"

    async def extract() -> httpx.Response:
        return await pm.post(f"{base}/extract", json={"message_ids": ids})

    # knowledge's read model of the messages catches up asynchronously: 422 unknown_ids until then
    started = await eventually(extract, lambda r: r.status_code != 422, "knowledge has the chat")
    assert started.status_code == 202, started.text
    extraction = started.json()["extraction_id"]
    await space.wait_for(
        lambda s: bool(s.of("extraction_completed", extraction_id=extraction)),
        what="extraction_completed",
    )
    created = space.of("proposals_created", extraction_id=extraction)
    assert created and all(e["topic"] == "knowledge_extraction" for e in created)
    topics = [t["proposal_id"] for e in created for t in e["data"]["topics"]]
    atoms = [a["proposal_id"] for e in created for a in e["data"]["atoms"]]
    assert topics and atoms, created
    approved = await pm.post(f"{base}/proposals/approve", json={"ids": topics + atoms})
    assert approved.status_code == 200, approved.text
    await space.wait_for(
        lambda s: (
            len(s.of("topic_created")) == len(topics) and len(s.of("atom_created")) == len(atoms)
        ),
        what="topic_created / atom_created for every approval",
    )
    assert {e["data"]["proposal_id"] for e in space.of("topic_created")} == set(topics)
    assert {e["data"]["proposal_id"] for e in space.of("atom_created")} == set(atoms)


async def _run_with_a_killed_worker(stack, pm, project: int, space: SpaceSocket) -> str:
    """3 + 5. one run at a time; its events in lifecycle order, each once, though the worker
    running it is killed mid-run (a throttled worker: a batch a second) and another resumes."""
    runs = f"/api/projects/{project}/runs"
    window = {
        "window_start": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        "window_end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    created = await pm.post(runs, json=window)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    second = await pm.post(runs, json=window)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["details"]["run_id"] == run_id

    stack.analysis_worker.stop()
    slow = stack.new_analysis_worker("analysis-worker-slow", llm_requests_per_minute=60).start()
    started = await pm.post(f"{runs}/{run_id}/start")
    assert started.status_code == 202, started.text
    await space.wait_for(
        lambda s: bool(s.of("progress_updated", run_id=run_id)), what="a first batch"
    )
    os.killpg(slow.process.pid, signal.SIGKILL)
    slow.process.wait()
    at_kill = (await pm.get(f"{runs}/{run_id}")).json()
    assert at_kill["status"] == "running", at_kill
    assert at_kill["progress"]["batches_done"] < at_kill["progress"]["batches_total"], at_kill
    stack.analysis_worker.start()  # JetStream hands it the job after one ack wait
    await space.wait_for(
        lambda s: bool(s.of("run_completed", run_id=run_id)), within=90, what="run_completed"
    )

    events = run_events(space, run_id)
    started_event = next(e for e in events if e["type"] == "run_started")
    batches = started_event["data"]["total_batches"]
    assert started_event["data"]["total_messages"] == len(CONVERSATIONS), started_event
    assert batches == len(CONVERSATIONS) // 2
    per_batch = ["proposals_created", "progress_updated"] * batches
    assert [e["type"] for e in events] == [
        "run_created",
        "run_started",
        *per_batch,
        "run_completed",
    ]
    progress = [e["data"]["batches_done"] for e in events if e["type"] == "progress_updated"]
    assert progress == list(range(1, batches + 1))
    proposed = [
        p["proposal_id"]
        for e in events
        if e["type"] == "proposals_created"
        for p in e["data"]["proposals"]
    ]
    assert len(proposed) == len(set(proposed)), "a proposal was created twice"
    assert events[-1]["data"]["proposals_total"] == len(proposed)
    return run_id


async def _decide_and_close(pm, project: int, run_id: str, space: SpaceSocket) -> None:
    """4. approve, reject and merge every proposal; close refused while one is pending."""
    proposals = f"/api/projects/{project}/proposals"
    total = run_events(space, run_id)[-1]["data"]["proposals_total"]

    async def listed() -> list[dict]:
        answer = await pm.get(proposals, params={"run_id": run_id, "limit": 500})
        return answer.json()["items"]

    items = await eventually(listed, lambda found: len(found) == total, "review has them all")
    ids = [item["id"] for item in items]
    assert len(set(ids)) == total >= 4
    first, second, *to_merge, last = ids
    approved = await pm.put(f"{proposals}/{first}/approve")
    assert approved.status_code == 200, approved.text
    task_id = approved.json()["task_id"]
    rejected = await pm.put(f"{proposals}/{second}/reject", json={"reason": "not ours"})
    assert rejected.status_code == 200, rejected.text
    merged = await pm.put(f"{proposals}/merge", json={"ids": to_merge, "task_id": task_id})
    assert merged.status_code == 200, merged.text

    close = f"/api/projects/{project}/runs/{run_id}/close"
    refused = await pm.put(close)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"]["pending"] >= 1
    last_merge = await pm.put(f"{proposals}/{last}/merge", json={"task_id": task_id})
    assert last_merge.status_code == 200, last_merge.text

    await space.wait_for(
        lambda s: len(s.of("approved", "rejected", "merged", run_id=run_id)) == total,
        what="a decision event per proposal",
    )
    decided = Counter(e["type"] for e in space.of("approved", "rejected", "merged", run_id=run_id))
    assert decided == {"approved": 1, "rejected": 1, "merged": total - 2}
    # analysis learns the decisions from review's events: reviewed once the last one arrives
    await space.wait_for(lambda s: bool(s.of("run_reviewed", run_id=run_id)), what="run_reviewed")
    closed = await pm.put(close)
    assert closed.status_code == 200, closed.text
    await space.wait_for(lambda s: bool(s.of("run_closed", run_id=run_id)), what="run_closed")
    metrics = space.of("run_closed", run_id=run_id)[0]["data"]["metrics"]
    assert (metrics["total"], metrics["approved"], metrics["rejected"], metrics["merged"]) == (
        total,
        1,
        1,
        total - 2,
    )
    assert metrics["approval_rate"] == pytest.approx(1 / total)
    assert closed.json()["metrics"] == metrics


async def _another_token_finds_nothing(stack, p1: int, p2: int, run_id: str, space: SpaceSocket):
    """6. project two's token: 404 for every id of project one, by either project's path."""
    extraction = space.of("extraction_completed")[0]["data"]["extraction_id"]
    knowledge_proposal = space.of("topic_created")[0]["data"]["proposal_id"]
    proposal = space.of("approved")[0]["data"]["proposal_id"]
    task = space.of("approved")[0]["data"]["task_id"]
    message = space.of("message.updated")[0]["data"]["message"]["id"]
    requests = [
        ("GET", f"runs/{run_id}"),
        ("PUT", f"runs/{run_id}/close"),
        ("GET", f"proposals/{proposal}"),
        ("PUT", f"proposals/{proposal}/approve"),
        ("GET", f"tasks/{task}"),
        ("GET", f"knowledge/extractions/{extraction}"),
        ("POST", f"knowledge/proposals/{knowledge_proposal}/approve"),
        ("GET", f"messages/{message}"),
    ]
    token = stack.token("pm-two", {p2: Role.pm})
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as other:
        for project in (p1, p2):
            for method, path in requests:
                answer = await other.request(method, f"/api/projects/{project}/{path}")
                assert answer.status_code == 404, (project, method, path, answer.text)
                assert answer.json()["error"]["code"] == "not_found"
