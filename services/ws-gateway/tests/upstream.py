"""A small real upstream service for the routing tests: it echoes what reached it."""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.convertors import PathConvertor, register_url_convertor

METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


class NoTrailingSlash(PathConvertor):
    """A path that does not end in `/`: the echo leaves those to FastAPI's default
    `redirect_slashes`, which answers 307 with an absolute `Location` on its own address."""

    regex = ".*[^/]"


register_url_convertor("echo", NoTrailingSlash())


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/api/projects/{pid}/runs/slow", methods=METHODS)
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"slow": "done"}

    @app.get("/api/projects/{pid}/messages/export")
    async def export(size: int) -> StreamingResponse:
        async def chunks():
            left = size
            while left:
                n = min(left, 65536)
                left -= n
                yield b"x" * n

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get("/api/projects/{pid}/runs/elsewhere")
    async def elsewhere() -> RedirectResponse:
        return RedirectResponse("https://docs.example.org/runs", status_code=302)

    @app.api_route("/{path:echo}", methods=METHODS)
    async def echo(request: Request, path: str) -> JSONResponse:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return JSONResponse(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": [[k, v] for k, v in request.headers.items()],
                "body_size": size,
                "body_sha256": digest.hexdigest(),
            },
            status_code=201 if request.method == "POST" else 200,
            headers={"set-cookie": "a=1", "x-upstream": "echo"},
        )

    return app
