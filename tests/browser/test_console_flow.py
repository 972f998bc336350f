"""The e2e flow (tests/e2e/test_whole_flow.py) done in the console by clicking and typing, in
headless Chromium against the whole stack: chat arrives live, knowledge is extracted and
reviewed, a run is created, started and followed, its proposals are decided with the keyboard
and in bulk while a second PM's page follows the counters live, the run is closed with its
metrics, and the tasks show the messages they came from. A screenshot of each view is written
to `.artifacts/screenshots/`; with TT_UPDATE_README_SHOT=1 the review queue's also replaces
`docs/console-review-queue.png`, the README's."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tasktracker.contracts.enums import Role
from tests.browser.conftest import assert_accessible, shoot
from tests.e2e.test_whole_flow import CONVERSATIONS, EDITED_TEXT, chat_updates

pytestmark = pytest.mark.e2e

CHAT_1, CHAT_2 = -100_777_000_001, -100_777_000_002
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console-review-queue.png"
WAIT_MS = 60_000


async def make_projects(stack) -> tuple[int, int]:
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=20
    ) as root:
        ids = []
        for name, chat in (("Checkout squad", CHAT_1), ("Other squad", CHAT_2)):
            project = (await root.post("/api/projects", json={"name": name})).json()["id"]
            bound = await root.post(
                "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat}
            )
            assert bound.status_code == 201, bound.text
            ids.append(project)
    return ids[0], ids[1]


async def send_chat(url: str, secret: str, chat_id: int, start: datetime) -> None:
    """Telegram's side: the updates on the webhook (no console involved)."""
    async with httpx.AsyncClient(base_url=url, timeout=20) as telegram:
        for update in chat_updates(chat_id, start):
            sent = await telegram.post(
                "/webhook/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            )
            assert sent.status_code == 200, sent.text


async def open_console(page: Page, stack, token: str) -> None:
    await page.goto(f"{stack.gateway_url}/#token={token}")
    await expect(page.locator("#live-status")).to_have_text("Live", timeout=WAIT_MS)
    assert "token" not in page.url, "the sign-in link's token stays in the address bar"


async def test_the_whole_flow_by_clicking_and_typing(stack, new_page):
    p1, _ = await make_projects(stack)
    page = await new_page()
    await open_console(page, stack, stack.token("pm-one", {p1: Role.pm}))
    await expect(page.get_by_label("Project")).to_have_text(f"Checkout squad (#{p1}, pm)")

    await _chat_arrives_live(page, stack)
    await _knowledge(page)
    total = await _run(page)
    other = await new_page()  # another PM, another browser profile, the same project
    await open_console(other, stack, stack.token("pm-alt", {p1: Role.pm}))
    task_id = await _review(page, other, total)
    await _close(page, total)
    await _tasks(page)
    await _a_second_run_suggests_the_task(page, task_id)


async def _chat_arrives_live(page: Page, stack) -> None:
    await page.get_by_role("button", name="Chat").click()
    await expect(page.get_by_text("0 messages shown")).to_have_count(0)
    start = datetime.now(UTC) - timedelta(hours=2)
    await send_chat(stack.gateway_url, stack.webhook_secret, CHAT_1, start)
    messages = page.locator("ol.messages > li")
    await expect(messages).to_have_count(len(CONVERSATIONS), timeout=WAIT_MS)
    await expect(page.get_by_text(EDITED_TEXT)).to_have_count(1, timeout=WAIT_MS)
    # a reload reads them back from the server, newest first
    await page.get_by_role("button", name="Knowledge").click()
    await page.get_by_role("button", name="Chat").click()
    await expect(messages).to_have_count(len(CONVERSATIONS))
    await expect(messages.first).to_contain_text(CONVERSATIONS[-1][1])
    await expect(messages.last).to_contain_text(EDITED_TEXT)
    await shoot(page, "chat")
    await assert_accessible(page)


async def _knowledge(page: Page) -> None:
    await page.get_by_role("button", name="Knowledge").click()
    await page.get_by_label("Messages since").fill(
        (datetime.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    )
    # knowledge reads the chat from ingestion's events: until it has caught up an extraction
    # finds no message, and the PM (like this test) starts another one
    done = page.locator("li[data-status=completed]")
    for attempt in range(1, 21):
        await page.get_by_role("button", name="Start extraction").click()
        await expect(done).to_have_count(attempt, timeout=WAIT_MS)
        if " 0 messages" not in await done.first.inner_text():
            break
        await page.wait_for_timeout(500)
    rows = page.locator("table.proposals tbody tr")
    await expect(rows.first).to_be_visible(timeout=WAIT_MS)
    count = await rows.count()
    assert count >= 3

    first_title = await rows.nth(0).locator("td").nth(2).inner_text()
    await rows.nth(0).get_by_role("button", name="Edit").click()
    await page.get_by_label("Title", exact=True).fill("Checkout timeout (renamed)")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Checkout timeout (renamed)")).to_be_visible()
    assert first_title

    await rows.nth(1).get_by_role("button", name="Reject").click()
    await page.get_by_label("Reason").fill("not knowledge, just chatter")
    await page.get_by_role("button", name="Reject", exact=True).last.click()
    await expect(rows).to_have_count(count - 1)
    await shoot(page, "knowledge")
    await assert_accessible(page)

    await page.get_by_label("Select all proposals").check()
    await page.get_by_role("button", name="Approve selected").click()
    await expect(page.get_by_text("No pending proposal.")).to_be_visible(timeout=WAIT_MS)


async def _run(page: Page) -> int:
    await page.get_by_role("button", name="Runs").click()
    await page.get_by_role("button", name="Create run").click()
    run = page.locator("article.run").first
    await expect(run).to_have_attribute("data-status", "pending", timeout=WAIT_MS)
    await run.get_by_role("button", name="Start").click()
    await expect(run).to_have_attribute("data-status", "completed", timeout=WAIT_MS)
    bar = run.locator("progress")
    assert await bar.get_attribute("value") == await bar.get_attribute("max")
    await expect(run.locator(".progress-text")).to_contain_text("(100 %)")
    await shoot(page, "runs")
    await assert_accessible(page)
    counters = await run.locator(".counters").inner_text()
    return int(re.match(r"(\d+) proposals", counters)[1])


async def _review(page: Page, other: Page, total: int) -> str:
    assert total >= 4
    await other.get_by_role("button", name="Review queue").click()
    await page.locator("article.run").first.get_by_role("button", name="Review proposals").click()
    queue, theirs = page.locator(".queue li[role=option]"), other.locator(".queue li[role=option]")
    await expect(queue).to_have_count(total, timeout=WAIT_MS)
    await expect(theirs).to_have_count(total, timeout=WAIT_MS)
    await expect(page.locator("#review-detail")).to_contain_text("Source messages")
    await shoot(page, "review-queue")
    await assert_accessible(page)

    # e: edit the current proposal; a: approve it (the task it creates is named)
    await page.keyboard.press("e")
    await page.get_by_label("Title", exact=True).fill("Fix the checkout timeout before Thursday")
    await page.get_by_role("button", name="Save").click()
    await expect(queue.first).to_contain_text("Fix the checkout timeout before Thursday")
    await page.keyboard.press("a")
    notice = page.locator("#alert")
    await expect(notice).to_contain_text("task #")
    task_id = re.search(r"task #(\d+)", await notice.inner_text())[1]
    await expect(other.locator("#review-counters")).to_have_attribute("data-approved", "1")
    await expect(theirs).to_have_count(total - 1)

    # j then k: the cursor moves; r: reject with a reason
    await page.keyboard.press("j")
    await expect(queue.nth(1)).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("k")
    await expect(queue.nth(0)).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("r")
    await page.get_by_label("Reason").fill("not ours")
    await page.get_by_role("button", name="Reject", exact=True).last.click()
    await expect(other.locator("#review-counters")).to_have_attribute("data-rejected", "1")
    await expect(theirs).to_have_count(total - 2)

    # m: merge one into the approved task
    await page.keyboard.press("m")
    await page.get_by_label("Task id").fill(task_id)
    await page.get_by_role("button", name="Merge", exact=True).click()
    await expect(other.locator("#review-counters")).to_have_attribute("data-merged", "1")

    # x on every remaining one, then the bulk merge
    remaining = total - 3
    await expect(queue).to_have_count(remaining)
    for _ in range(remaining):
        await page.keyboard.press("x")
        await page.keyboard.press("j")
    await page.get_by_role("button", name="Merge selected").click()
    await page.get_by_label("Task id").fill(task_id)
    await page.get_by_role("button", name="Merge", exact=True).click()
    for counters in (page.locator("#review-counters"), other.locator("#review-counters")):
        await expect(counters).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
        await expect(counters).to_have_attribute("data-merged", str(total - 2))
    await expect(theirs).to_have_count(0)
    await shoot(other, "review-queue-other-pm")
    return task_id


async def _close(page: Page, total: int) -> None:
    await page.get_by_role("button", name="Runs").click()
    run = page.locator("article.run").first
    # analysis learns the decisions from review's events: reviewed once the last one arrives
    await expect(run).to_have_attribute("data-status", "reviewed", timeout=WAIT_MS)
    await run.get_by_role("button", name="Close run").click()
    await expect(run).to_have_attribute("data-status", "closed", timeout=WAIT_MS)
    metrics = run.locator("dl.metrics")
    await expect(metrics).to_contain_text(f"Proposals{total}")
    await expect(metrics).to_contain_text(f"Merged{total - 2}")
    await shoot(page, "runs-closed")
    await assert_accessible(page)


async def _tasks(page: Page) -> None:
    await page.get_by_role("button", name="Tasks").click()
    task = page.locator("button.task")
    await expect(task).to_have_count(1, timeout=WAIT_MS)
    await expect(task).to_contain_text("Fix the checkout timeout before Thursday")
    await task.click()
    detail = page.locator("#task-detail")
    await expect(detail).to_contain_text("From the messages")
    await expect(detail.locator("li.message").first).to_be_visible()
    await shoot(page, "tasks-list")
    await assert_accessible(page)
    await page.get_by_role("button", name="Board").click()
    await expect(page.locator("section.column[data-status=open] button.task")).to_have_count(1)
    await shoot(page, "tasks-board")
    await assert_accessible(page)


async def _a_second_run_suggests_the_task(page: Page, task_id: str) -> None:
    """The same window again: the checkout proposal looks like the task made in the first run;
    `m` offers that task, and the task gains the proposal."""
    await page.get_by_role("button", name="Runs").click()
    await page.get_by_role("button", name="Create run").click()
    run = page.locator("article.run").first
    await expect(run).to_have_attribute("data-status", "pending", timeout=WAIT_MS)
    await run.get_by_role("button", name="Start").click()
    await expect(run).to_have_attribute("data-status", "completed", timeout=WAIT_MS)
    await run.get_by_role("button", name="Review proposals").click()
    suggested = page.locator(".queue li[role=option]", has_text=f"looks like task {task_id}")
    await expect(suggested.first).to_be_visible(timeout=WAIT_MS)
    await suggested.first.click()
    await expect(page.locator("#merge-suggestion")).to_contain_text(f"Looks like task {task_id}")
    await page.locator(".queue").focus()
    shot = await shoot(page, "review-queue-suggestion")
    if os.environ.get("TT_UPDATE_README_SHOT"):  # the committed one changes only when asked
        shutil.copy(shot, README_SHOT)
    before = await page.locator(".queue li[role=option]").count()
    await page.keyboard.press("m")
    await expect(page.get_by_label("Task id")).to_have_value(task_id)
    await page.get_by_role("button", name="Merge", exact=True).click()
    await expect(page.locator(".queue li[role=option]")).to_have_count(before - 1)
    await page.get_by_role("button", name="Tasks").click()
    await page.locator("button.task").first.click()
    await expect(page.locator("#task-detail")).to_contain_text("merged")
