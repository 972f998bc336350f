"""`/healthz` (the process is alive) and `/readyz` (what it needs to serve answers).

`/readyz` is 503 when a required check fails; optional checks (a dependency only some routes
need) are reported under `optional` and never make the process unready."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    timeout: float = 2.0,
    *,
    optional: Callable[[], Mapping[str, ReadinessCheck]] = dict,
) -> APIRouter:
    """`checks` and `optional` are called per request: some exist only once the app started."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = await _run(checks(), timeout)
        ready = all(value == "ok" for value in results.values())
        content: dict[str, object] = {
            "status": "ready" if ready else "unavailable",
            "checks": results,
        }
        if reported := optional():
            content["optional"] = await _run(reported, timeout)
        return JSONResponse(status_code=200 if ready else 503, content=content)

    return router


async def _run(checks: Mapping[str, ReadinessCheck], seconds_each: float) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), seconds_each)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {exc!r}"[:300]
    return results
