"""Every error leaves a service as the JSON error body, the database's included."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tasktracker.servicekit.errors import ApiError, install_error_handlers


def error_app(engine) -> FastAPI:
    app = FastAPI(redirect_slashes=False)
    install_error_handlers(app)

    @app.get("/value/{raw}")
    async def value(raw: str) -> dict:
        async with engine.connect() as conn:  # PostgreSQL itself refuses the value
            return {
                "value": await conn.scalar(
                    text("SELECT CAST(CAST(:raw AS text) AS integer)"), {"raw": raw}
                )
            }

    @app.get("/conflict")
    async def conflict() -> None:
        raise ApiError(409, "conflict", "already decided", {"id": 7})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return app


async def call(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_a_value_the_database_refuses_is_a_400_json_error(engine):
    app = error_app(engine)
    assert (await call(app, "/value/12")).json() == {"value": 12}
    for raw in ("99999999999", "twelve"):
        response = await call(app, f"/value/{raw}")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


async def test_api_errors_and_bugs_keep_the_error_shape(engine):
    app = error_app(engine)
    conflict = await call(app, "/conflict")
    assert conflict.status_code == 409
    assert conflict.json() == {
        "error": {"code": "conflict", "message": "already decided", "details": {"id": 7}}
    }
    bug = await call(app, "/boom")
    assert bug.status_code == 500
    assert bug.json()["error"]["code"] == "internal"
    assert "a bug" not in bug.text  # internals stay in the log
    missing = await call(app, "/nowhere/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
