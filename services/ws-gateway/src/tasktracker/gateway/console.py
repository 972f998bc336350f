"""The review console: a page and its ES modules, served as static files (`console_static/`).

The console is a plain browser client of the gateway's public REST and WebSocket APIs: no
build step, no server-side state, nothing here that the API does not already answer.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).with_name("console_static")
ASSETS_PREFIX = "/console"

# The files are not content-hashed (there is no build step): a browser keeps them but asks
# again each time (ETag / Last-Modified → 304), so a new gateway's console is never stale.
# The page only talks to its own origin (REST, and WebSocket on the same host).
SECURITY_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


class ConsoleFiles(StaticFiles):
    """Static files with the console's headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_console(app: FastAPI) -> None:
    """`GET /` is the page; `/console/…` its scripts and styles."""

    @app.get("/", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers=SECURITY_HEADERS,
        )

    app.mount(ASSETS_PREFIX, ConsoleFiles(directory=STATIC_DIR), name="console")
