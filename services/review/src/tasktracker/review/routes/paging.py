"""Keyset pagination: an opaque cursor holding the last row's sort key."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Path

from tasktracker.contracts.errors import ErrorCode
from tasktracker.servicekit.errors import ApiError

ProjectId = Annotated[int, Path(gt=0, le=2**63 - 1)]
MAX_PAGE = 500


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode()


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(key, list) or len(key) != length:
        raise invalid_cursor()
    return key


def invalid_cursor() -> ApiError:
    return ApiError(422, ErrorCode.validation_error, "invalid cursor")
