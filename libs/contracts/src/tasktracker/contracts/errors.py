"""The JSON error body of every 4xx/5xx API response: `{"error": {code, message, details}}`."""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import to_jsonable_python


class ErrorCode(StrEnum):
    bad_request = "bad_request"
    validation_error = "validation_error"
    unauthorized = "unauthorized"
    forbidden = "forbidden"
    not_found = "not_found"
    conflict = "conflict"
    payload_too_large = "payload_too_large"
    unavailable = "unavailable"
    upstream_timeout = "upstream_timeout"
    internal = "internal"


# The usual HTTP status of each code; an endpoint may still pick another (e.g. 400 + conflict).
HTTP_STATUS: Mapping[ErrorCode, int] = MappingProxyType(
    {
        ErrorCode.bad_request: 400,
        ErrorCode.validation_error: 422,
        ErrorCode.unauthorized: 401,
        ErrorCode.forbidden: 403,
        ErrorCode.not_found: 404,
        ErrorCode.conflict: 409,
        ErrorCode.payload_too_large: 413,
        ErrorCode.unavailable: 503,
        ErrorCode.upstream_timeout: 504,
        ErrorCode.internal: 500,
    }
)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # an ErrorCode value, or a more specific code of one endpoint
    message: str
    details: Any = None

    @field_validator("details")
    @classmethod
    def _details_are_json_ready(cls, value: Any) -> Any:
        # pydantic's error lists carry exception objects in `ctx`; render anything odd as text.
        return to_jsonable_python(value, fallback=str)


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    error: ErrorDetail


def error_body(code: ErrorCode | str, message: str, details: Any = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "details"}}` as a JSON-ready dict."""
    body = ErrorBody(error=ErrorDetail(code=str(code), message=message, details=details))
    return body.model_dump(mode="json")
