"""The webhook benchmark's baseline: a bare FastAPI app that parses the same body and answers
what the webhook answers, served by uvicorn with the settings every service's `api` uses
(`tasktracker.servicekit.cli`: `uvicorn.run(factory, factory=True, host, port, log_level)`).

    python -m bench.baseline_app --port 8099
"""

from __future__ import annotations

import argparse
from typing import Annotated, Any

import uvicorn
from fastapi import Body, FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/webhook/telegram")
    async def webhook(update: Annotated[dict[str, Any], Body()]) -> dict[str, bool]:
        return {"ok": isinstance(update.get("update_id"), int)}

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "bench.baseline_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
