"""`POST /webhook/telegram`: authenticate, parse, enqueue, answer. No database work here.

A 200 means the update is stored in JetStream (the publish waited for its PubAck), and is
given only for an update the worker can store: one holding a value PostgreSQL can't (an id
beyond 64 bits, a NUL character...) is refused with 400 instead of failing every retry. When
the broker doesn't accept it in time the answer is 503, and Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Annotated, Any

from aiogram.types import Update
from fastapi import APIRouter, Header, Request
from nats.errors import MaxPayloadError
from pydantic import ValidationError
from taskiq.exceptions import SendTaskError

from tasktracker.contracts.errors import ErrorCode
from tasktracker.ingestion.domain import unstorable
from tasktracker.ingestion.queue import enqueue_update
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.app import Runtime
from tasktracker.servicekit.errors import ApiError

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhook"])

SecretHeader = Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")]


@router.post("/webhook/telegram")
async def telegram_webhook(
    request: Request, runtime: Runtime, secret: SecretHeader = None
) -> dict[str, bool]:
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    check_secret(settings, secret)
    body = await read_body(request, settings.webhook_max_body_bytes)
    update_id, payload = parse_update(body)
    try:
        async with asyncio.timeout(settings.webhook_enqueue_timeout_seconds):
            await enqueue_update(runtime.job_broker, update_id, payload)
    except SendTaskError as exc:
        if isinstance(exc.__cause__, MaxPayloadError):  # NATS's message limit, below ours
            message = "update is larger than the job queue accepts"
            raise ApiError(413, ErrorCode.payload_too_large, message) from None
        raise not_queued(update_id, exc.__cause__ or exc) from exc
    except TimeoutError as exc:
        raise not_queued(update_id, exc) from exc
    return {"ok": True}


def not_queued(update_id: int, reason: BaseException) -> ApiError:
    log.warning("update %s not queued: %r", update_id, reason)
    return ApiError(503, ErrorCode.unavailable, "the update could not be queued; deliver it again")


def check_secret(settings: IngestionSettings, provided: str | None) -> None:
    expected = settings.webhook_secret
    if expected is None:  # running open, as explicitly configured
        return
    if provided is None or not hmac.compare_digest(
        provided.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(401, ErrorCode.unauthorized, "missing or wrong webhook secret token")


async def read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(
        413, ErrorCode.payload_too_large, f"body exceeds {limit} bytes", {"limit": limit}
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def parse_update(body: bytes) -> tuple[int, dict[str, Any]]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, ErrorCode.bad_request, "body is not JSON", str(exc)) from None
    if not isinstance(payload, dict):
        raise ApiError(400, ErrorCode.bad_request, "body is not a Telegram Update object")
    try:
        update = Update.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()[:10]
        ]
        message = "body is not a Telegram Update"
        raise ApiError(400, ErrorCode.bad_request, message, details) from None
    problem = unstorable(payload, update)
    if problem is not None:
        details = [{"loc": list(problem.loc), "msg": problem.msg, "type": problem.type}]
        message = "update holds a value that can't be stored"
        raise ApiError(400, ErrorCode.bad_request, message, details)
    return update.update_id, payload
