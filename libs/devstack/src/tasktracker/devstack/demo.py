"""Loads the demo project through the real edge: gateway REST and the Telegram webhook."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.devstack.sample import sample_chat_id, telegram_updates
from tasktracker.devstack.stack import Stack

DEMO_PROJECT = "Demo: checkout squad"
TOKEN_TTL_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Demo:
    project_id: int
    token: str


def sign(stack: Stack, sub: str, projects: dict[int, Role], *, admin: bool = False) -> str:
    claims = Claims(
        sub=sub, projects=projects, admin=admin, exp=int(time.time()) + TOKEN_TTL_SECONDS
    )
    return jwt.encode(claims.to_jwt_payload(), stack.jwt_secret, algorithm="HS256")


async def load_demo(stack: Stack, sample_file: Path) -> Demo:
    """Create (or find) the demo project, bind its chat, post the sample chat's updates."""
    admin = sign(stack, "make-run", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.base_url("gateway"),
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    ) as client:
        project_id = await _demo_project(client)
        chat_id = sample_chat_id(sample_file)
        # `make run` signs itself a global admin, who may bind a chat by its id.
        bound = await client.post(
            "/api/ingestion/bindings", json={"project_id": project_id, "chat_id": chat_id}
        )
        bound.raise_for_status()
        await post_sample(client, stack.webhook_secret, sample_file)
    token = sign(stack, "demo-lead", {project_id: Role.admin})
    return Demo(project_id=project_id, token=token)


async def post_sample(client: httpx.AsyncClient, webhook_secret: str, sample_file: Path) -> None:
    """Every update of the sample, in order, through the webhook as Telegram sends them."""
    for update in telegram_updates(sample_file):
        response = await client.post(
            "/webhook/telegram",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret},
        )
        response.raise_for_status()


async def find_demo_project(client: httpx.AsyncClient) -> int | None:
    listed = await client.get("/api/projects")
    listed.raise_for_status()
    body = listed.json()
    items = body["items"] if isinstance(body, dict) else body
    return next((p["id"] for p in items if p["name"] == DEMO_PROJECT), None)


async def _demo_project(client: httpx.AsyncClient) -> int:
    if (found := await find_demo_project(client)) is not None:
        return found
    created = await client.post("/api/projects", json={"name": DEMO_PROJECT})
    created.raise_for_status()
    return created.json()["id"]
