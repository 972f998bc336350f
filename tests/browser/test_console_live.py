"""The console's live edge in headless Chromium against the whole stack: a dropped socket
(the gateway stopped and started again) shows "Reconnecting…", resumes with `since` and
misses nothing; another project's token sees none of it; 401/403/404/409 are shown as what
they mean."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from playwright.async_api import Page, expect

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tests.browser.conftest import shoot
from tests.browser.test_console_flow import WAIT_MS, open_console

pytestmark = pytest.mark.e2e

PAGE = 30  # the chat's page size (views/chat.js)


async def project_with_chat(stack, name: str, chat_id: int) -> int:
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=20
    ) as root:
        project = (await root.post("/api/projects", json={"name": name})).json()["id"]
        bound = await root.post(
            "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat_id}
        )
        assert bound.status_code == 201, bound.text
    return project


async def say(base_url: str, secret: str, chat_id: int, texts: list[str], first_id: int) -> None:
    """Telegram updates on a webhook: the gateway's, or ingestion's own while the gateway is
    down."""
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as telegram:
        for offset, text in enumerate(texts):
            number = first_id + offset
            update = {
                "update_id": 9_900_000 + abs(chat_id) % 1000 * 1000 + number,
                "message": {
                    "message_id": number,
                    "date": int((now + timedelta(seconds=offset)).timestamp()),
                    "chat": {"id": chat_id, "type": "supergroup", "title": "live"},
                    "from": {"id": 7001, "is_bot": False, "first_name": "Eve"},
                    "text": text,
                },
            }
            sent = await telegram.post(
                "/webhook/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            )
            assert sent.status_code == 200, sent.text


def record_socket_frames(page: Page) -> dict[str, list[dict]]:
    frames: dict[str, list[dict]] = {"sent": [], "received": []}

    def watch(socket) -> None:
        socket.on("framesent", lambda payload: frames["sent"].append(json.loads(payload)))
        socket.on("framereceived", lambda payload: frames["received"].append(json.loads(payload)))

    page.on("websocket", watch)
    return frames


async def stream_holds(js, project_id: int, count: int) -> None:
    """Wait until SPACES holds `count` message events of the project (published while no
    gateway was there to relay them)."""
    subject = f"space.{project_id}.messages.message.updated"
    async with asyncio.timeout(60):
        while True:
            info = await js.stream_info("SPACES", subjects_filter=subject)
            if (info.state.subjects or {}).get(subject, 0) >= count:
                return
            await asyncio.sleep(0.2)


async def test_a_dropped_socket_reconnects_and_misses_nothing(stack, new_page, js):
    chat = -100_777_000_101
    project = await project_with_chat(stack, "Live squad", chat)
    page = await new_page()
    frames = record_socket_frames(page)
    await open_console(page, stack, stack.token("pm-live", {project: Role.pm}))
    await page.get_by_role("button", name="Chat").click()
    messages = page.locator("ol.messages > li")
    await say(stack.gateway_url, stack.webhook_secret, chat, ["before one", "before two"], 1)
    await expect(messages).to_have_count(2, timeout=WAIT_MS)

    await asyncio.to_thread(stack.gateway.stop)
    await expect(page.locator("#live-status")).to_have_text("Reconnecting…", timeout=WAIT_MS)
    await shoot(page, "reconnecting")
    during = ["while down one", "while down two", "while down three"]
    ingestion = f"http://127.0.0.1:{stack.env['TT_INGESTION_PORT']}"
    await say(ingestion, stack.webhook_secret, chat, during, 3)
    await stream_holds(js, project, 5)

    stack.gateway.start()
    await asyncio.to_thread(stack.gateway.wait_ready)
    await expect(page.locator("#live-status")).to_have_text("Live", timeout=WAIT_MS)
    await expect(messages).to_have_count(5, timeout=WAIT_MS)
    for text in ["before one", "before two", *during]:
        await expect(page.get_by_text(text, exact=True)).to_have_count(1)
    await expect(messages.first).to_contain_text("while down three")  # newest first
    resumed = [f for f in frames["sent"] if f["type"] == "subscribe" and "since" in f]
    assert resumed, frames["sent"]
    assert any(f["type"] == "subscribed" and f["recovered"] for f in frames["received"])
    seqs = [f["seq"] for f in frames["received"] if f["type"] == "event"]
    assert len(seqs) == len(set(seqs)), "an event reached the page twice"

    # and it is live again: one more message arrives without a reload
    await say(stack.gateway_url, stack.webhook_secret, chat, ["after"], 6)
    await expect(messages).to_have_count(6, timeout=WAIT_MS)

    # pages from the server, newest first: a page, then "Load older messages"
    more = [f"later {n}" for n in range(PAGE)]
    await say(stack.gateway_url, stack.webhook_secret, chat, more, 7)
    await expect(messages).to_have_count(6 + PAGE, timeout=WAIT_MS)
    await page.get_by_role("button", name="Runs").click()
    await page.get_by_role("button", name="Chat").click()
    await expect(messages).to_have_count(PAGE)
    await expect(messages.first).to_contain_text(f"later {PAGE - 1}")
    await page.get_by_role("button", name="Load older messages").click()
    await expect(messages).to_have_count(6 + PAGE)
    await expect(messages.last).to_contain_text("before one")
    await expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()


async def test_another_projects_token_sees_none_of_it(stack, new_page):
    mine_chat, theirs_chat = -100_777_000_201, -100_777_000_202
    mine = await project_with_chat(stack, "Mine", mine_chat)
    theirs = await project_with_chat(stack, "Theirs", theirs_chat)
    page = await new_page()
    frames = record_socket_frames(page)
    await open_console(page, stack, stack.token("pm-mine", {mine: Role.pm}))
    switcher = page.get_by_label("Project")
    await expect(switcher.locator("option")).to_have_count(1)
    await expect(switcher).to_have_text(f"Mine (#{mine}, pm)")
    await page.get_by_role("button", name="Chat").click()
    await say(stack.gateway_url, stack.webhook_secret, theirs_chat, ["secret plans"], 1)
    await say(stack.gateway_url, stack.webhook_secret, mine_chat, ["our own news"], 1)
    await expect(page.get_by_text("our own news")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.get_by_text("secret plans")).to_have_count(0)
    events = [f["event"] for f in frames["received"] if f["type"] == "event"]
    assert events and {e["project_id"] for e in events} == {mine}
    # asked directly from the page, with the page's token: theirs does not exist for it
    probe = """async ([project, token]) => (await fetch(`/api/projects/${project}/messages`,
        {headers: {Authorization: `Bearer ${token}`}})).status"""
    token = stack.token("pm-mine", {mine: Role.pm})
    assert await page.evaluate(probe, [theirs, token]) == 404
    for view in ("Review queue", "Knowledge", "Runs", "Tasks"):
        await page.get_by_role("button", name=view).click()
        await expect(page.locator("#alert")).to_be_hidden()
        await expect(page.get_by_text("secret plans")).to_have_count(0)

    # a token with both: the switcher moves the views and the live socket to the other one
    both = await new_page()
    await open_console(both, stack, stack.token("pm-both", {mine: Role.pm, theirs: Role.viewer}))
    await both.get_by_role("button", name="Chat").click()
    await expect(both.get_by_text("our own news")).to_have_count(1, timeout=WAIT_MS)
    await both.get_by_label("Project").select_option(str(theirs))
    await expect(both.get_by_text("secret plans")).to_have_count(1, timeout=WAIT_MS)
    await expect(both.get_by_text("our own news")).to_have_count(0)
    await expect(both.locator("#live-status")).to_have_text("Live", timeout=WAIT_MS)
    await say(stack.gateway_url, stack.webhook_secret, mine_chat, ["mine again"], 2)
    await say(stack.gateway_url, stack.webhook_secret, theirs_chat, ["theirs again"], 2)
    await expect(both.get_by_text("theirs again")).to_have_count(1, timeout=WAIT_MS)
    await expect(both.get_by_text("mine again")).to_have_count(0)


async def test_errors_are_shown_as_what_they_mean(stack, new_page):
    project = await project_with_chat(stack, "Errors", -100_777_000_301)
    page = await new_page()
    alert = page.locator("#alert")

    # 401: an expired token → back to the sign-in form, saying why
    expired = Claims(sub="late", projects={project: Role.pm}, exp=int(time.time()) - 3600)
    token = jwt.encode(expired.to_jwt_payload(), stack.jwt_secret, algorithm="HS256")
    await page.goto(f"{stack.gateway_url}/#token={token}")
    await expect(page.get_by_label("Access token")).to_be_visible()
    await expect(alert).to_contain_text("no longer valid")
    await shoot(page, "sign-in-401")

    # 404: a project the token names that does not exist, signed in by pasting the token
    pasted = stack.token("pm-errors", {project: Role.pm, 999_999_999: Role.pm})
    await page.get_by_label("Access token").fill(pasted)
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_contain_text("Not found: project #999999999")
    await expect(page.get_by_label("Project").locator("option")).to_have_count(1)

    # 409: a second run while one is unclosed
    await page.get_by_role("button", name="Runs").click()
    await page.get_by_role("button", name="Create run").click()
    await expect(page.locator("article.run")).to_have_count(1, timeout=WAIT_MS)
    await page.get_by_role("button", name="Create run").click()
    await expect(alert).to_contain_text("Conflict:")
    await shoot(page, "runs-409")

    # 403: a viewer starts an extraction
    viewer = await new_page()
    await open_console(viewer, stack, stack.token("viewer", {project: Role.viewer}))
    await viewer.get_by_role("button", name="Knowledge").click()
    await viewer.get_by_role("button", name="Start extraction").click()
    await expect(viewer.locator("#alert")).to_contain_text("Not allowed")
    await shoot(viewer, "knowledge-403")
