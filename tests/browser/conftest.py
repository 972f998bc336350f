"""Headless Chromium (Debian's package, driven by Playwright) against the whole stack as real
processes (tests/fixtures/full_stack.py), one stack for the package's tests.

No browser is downloaded at run time: Playwright drives `/usr/bin/chromium`, which this setup
installs with apt-get when it is missing and we are root. Only where that cannot happen (not
root, no apt-get, the install failed) are the browser tests skipped — loudly, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.full_stack import FullStack, full_stack, reserve_project_ids

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
VIEWPORT = {"width": 1366, "height": 800}  # a laptop screen


def find_chromium() -> str | None:
    configured = os.environ.get("TT_TEST_CHROMIUM")
    for path in (configured, *CHROMIUM_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def install_chromium() -> str:
    """`apt-get install chromium` (as the Makefile's `bench` installs wrk); "" when done, else
    why it could not be."""
    if os.geteuid() != 0:
        return "not root, so Chromium cannot be installed with apt-get"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine to install Chromium with"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode == 0:
        return ""
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)  # stale lists
    retry = subprocess.run(install, env=env, capture_output=True, text=True)
    if retry.returncode == 0:
        return ""
    return f"apt-get install chromium failed: {retry.stderr[-500:]}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        reason = install_chromium()
        path = find_chromium()
        if path is None:
            why = reason or "not found after installing it"
            message = f"BROWSER TESTS SKIPPED: no Chromium — {why}"
            warnings.warn(message, stacklevel=1)  # in the warnings summary of every run
            pytest.skip(message)
    return path


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield browser
        await browser.close()


@pytest.fixture(scope="package")
async def stack(
    database_factory, nats_url, session_id, project_ids, tmp_path_factory
) -> AsyncIterator[FullStack]:
    log_dir = tmp_path_factory.mktemp("browser-logs")
    # Streams and durables of its own, apart from the e2e whole stack's: the console flow posts
    # the e2e flow's updates, and on one stream JetStream's duplicate window (120 s) would drop
    # the e2e test's as repeats of these when it runs within two minutes of them.
    async with full_stack(
        database_factory, nats_url, f"{session_id}br", reserve_project_ids(project_ids), log_dir
    ) as whole:
        yield whole


@pytest.fixture
async def new_page(browser, request):
    """Pages in fresh contexts (no shared storage: another tab of another PM); each page's
    console errors fail the test, and a failing test leaves a screenshot of every page."""
    contexts, pages, errors = [], [], []

    async def make():
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        contexts.append(context)
        pages.append(page)
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for index, page in enumerate(pages):
            await shoot(page, f"FAILED-{request.node.name}-{index}")
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


async def shoot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# Every form control has a label, every button a name, and text has a contrast of at least
# 4.5:1 (WCAG AA) against the background it is drawn on.
AUDIT = (Path(__file__).with_name("audit.js")).read_text()


async def assert_accessible(page) -> None:
    problems = await page.evaluate(AUDIT)
    assert not problems, problems
