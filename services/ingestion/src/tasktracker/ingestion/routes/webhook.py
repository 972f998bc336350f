"""`POST /webhook/telegram`: authenticate, check, publish, answer. No database work here.

Nothing about an update's content is checked here: any JSON object with an integer
`update_id` is published as it came (its bytes, to the updates stream: `updates.py`) and
parsed once more, by the worker, leniently (`domain.py`). A Telegram update answered with a
4xx is lost, and the Bot API grows every few months. A 200 means the update is stored in
JetStream (the publish waited for its PubAck); when JetStream doesn't take it in time the
answer is 503, and Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError
from pydantic import BaseModel

from tasktracker.contracts.errors import ErrorCode
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.updates import publish_update
from tasktracker.servicekit.errors import ApiError
from tasktracker.servicekit.openapi import error_responses
from tasktracker.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhook"])

SECRET_HEADER = "x-telegram-bot-api-secret-token"
OK = b'{"ok":true}'


class WebhookAnswer(BaseModel):
    ok: bool = True


SECRET_PARAMETER = {
    "name": "X-Telegram-Bot-Api-Secret-Token",
    "in": "header",
    "required": False,
    "description": "the secret_token given to setWebhook (required unless the webhook is open)",
    "schema": {"type": "string"},
}

# The body is read raw (parsed once, by the worker): documented here, not checked by FastAPI.
TELEGRAM_UPDATE = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "A Telegram Update: any JSON object with an integer update_id",
                "required": ["update_id"],
                "properties": {"update_id": {"type": "integer"}},
                "additionalProperties": True,
            }
        }
    },
}


@router.post(
    "/webhook/telegram",
    responses={200: {"model": WebhookAnswer}} | error_responses(400, 401, 413, 503),
    response_class=JSONResponse,
    description=(
        "Telegram's webhook (`setWebhook` with `secret_token`). A 200 means the update is "
        "stored; a 503 means it was not: Telegram delivers it again."
    ),
    openapi_extra={"requestBody": TELEGRAM_UPDATE, "parameters": [SECRET_PARAMETER]},
)
async def telegram_webhook(request: Request) -> Response:
    # Served ahead of FastAPI's router (`servicekit.direct`), so it takes only the request.
    # The publish waits `webhook_enqueue_timeout_seconds` for the PubAck, then gives up.
    runtime: ServiceRuntime = request.app.state.runtime
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    check_secret(settings, request.headers.get(SECRET_HEADER))
    body = await read_body(request, settings.webhook_max_body_bytes)
    update_id = parse_update(body)
    if runtime.nats is None or runtime.js is None:  # not started, or stopping
        raise not_queued(update_id, RuntimeError("no NATS connection"))
    try:
        await publish_update(runtime.nats, runtime.js, settings, update_id, body)
    except MaxPayloadError:  # NATS's message limit, below ours
        message = "update is larger than the update queue accepts"
        raise ApiError(413, ErrorCode.payload_too_large, message) from None
    except (NatsError, TimeoutError) as exc:
        raise not_queued(update_id, exc) from exc
    return Response(OK, media_type="application/json")


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


def parse_update(body: bytes) -> int:
    """The update's id, if the body is a JSON object (UTF-8) with an integer `update_id` (not
    a bool; any size: the worker records one beyond 64 bits as unusable)."""
    try:
        text = body.decode("utf-8-sig")
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, ErrorCode.bad_request, "body is not JSON", str(exc)) from None
    if not isinstance(payload, dict):
        raise ApiError(400, ErrorCode.bad_request, "body is not a JSON object")
    update_id = payload.get("update_id")
    if type(update_id) is not int:
        message = "body is not a Telegram update: no integer update_id"
        raise ApiError(400, ErrorCode.bad_request, message)
    return update_id
