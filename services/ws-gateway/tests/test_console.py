"""The review console's files: `GET /` and `/console/…`, with their content types and headers,
served beside (never instead of) the proxy; the token only ever in the `/ws` query."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tasktracker.gateway.console import STATIC_DIR

from .helpers import Served


@pytest.fixture(scope="module")
async def web(gateway: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as client:
        yield client


async def test_the_page_is_served_at_the_root_with_a_strict_policy(web):
    page = await web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/console/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/console/app.js", "text/javascript"),
        ("/console/views/review.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ],
)
async def test_assets_have_their_types_and_are_revalidated(web, path, content_type):
    asset = await web.get(path)
    assert asset.status_code == 200
    assert asset.headers["content-type"].split(";")[0] == content_type
    assert asset.headers["cache-control"] == "no-cache"
    again = await web.get(path, headers={"If-None-Match": asset.headers["etag"]})
    assert again.status_code == 304


async def test_missing_and_escaping_paths_are_404(web):
    assert (await web.get("/console/nope.js")).status_code == 404
    assert (await web.get("/console/../settings.py")).status_code == 404
    assert (await web.get("/console/%2e%2e/settings.py")).status_code == 404


async def test_the_api_is_still_the_proxy(web):
    answer = await web.get("/api/projects/1/messages")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_every_module_the_page_imports_exists():
    """A typo in an import breaks the whole page in the browser; catch it here too."""
    for module in STATIC_DIR.rglob("*.js"):
        for target in re.findall(r'^import .* from "(\.[^"]+)";$', module.read_text(), re.M):
            assert (module.parent / target).resolve().is_file(), (module, target)


def test_the_token_goes_to_the_server_only_in_the_authorization_header_or_ws_query():
    """The page never builds a URL with the token, except the WebSocket's `?token=`."""
    sources = {p.name: p.read_text() for p in STATIC_DIR.rglob("*.js")}
    uses = {name: re.findall(r".*token.*\$\{.*", text) for name, text in sources.items()}
    urls = [line for lines in uses.values() for line in lines if "`" in line and "/" in line]
    assert urls == [
        "    const url = `${scheme}//${location.host}/ws?token=${encodeURIComponent(this.token)}`;"
    ]
