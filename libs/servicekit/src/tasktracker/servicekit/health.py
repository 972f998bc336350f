"""`/healthz` (the process is alive) and `/readyz` (its PostgreSQL and NATS answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(
    checks: Callable[[], Mapping[str, ReadinessCheck]], timeout: float = 2.0
) -> APIRouter:
    """`checks` is called per request: some exist only once the app has started."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                await asyncio.wait_for(check(), timeout)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"error: {exc!r}"[:300]
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "unavailable", "checks": results},
        )

    return router
