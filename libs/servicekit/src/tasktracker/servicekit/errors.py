"""HTTP errors as `{"error": {"code", "message", "details"}}`, for every service alike."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tasktracker.contracts.errors import ErrorCode, error_body
from tasktracker.contracts.states import InvalidTransition
from tasktracker.servicekit.db import is_data_error

log = logging.getLogger(__name__)

_CODE_BY_STATUS = {
    400: ErrorCode.bad_request,
    401: ErrorCode.unauthorized,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.bad_request,
    409: ErrorCode.conflict,
    413: ErrorCode.payload_too_large,
    422: ErrorCode.validation_error,
    503: ErrorCode.unavailable,
    504: ErrorCode.upstream_timeout,
}


class ApiError(Exception):
    """Raise from a route or service layer to answer with a typed JSON error."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str) -> ApiError:
    return ApiError(404, ErrorCode.not_found, f"{what} not found")


def conflict(message: str, details: Any = None) -> ApiError:
    return ApiError(409, ErrorCode.conflict, message, details)


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content=jsonable_encoder(error_body(code, message, details))
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(InvalidTransition)
    async def _invalid_transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return error_response(
            409,
            ErrorCode.conflict,
            str(exc),
            {"current": str(exc.current), "target": str(exc.target)},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")}
            for err in exc.errors()
        ]
        return error_response(422, ErrorCode.validation_error, "request is invalid", errors)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        # A value PostgreSQL cannot store (out of range, a NUL byte…) is the caller's input;
        # the routes validate at the edge, this is the net under them.
        if isinstance(exc, DataError) or is_data_error(exc):
            return error_response(400, ErrorCode.bad_request, "a value is out of range or invalid")
        log.exception("database error")
        return error_response(500, ErrorCode.internal, "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, ErrorCode.internal, "internal error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_BY_STATUS.get(exc.status_code, ErrorCode.bad_request)
        if exc.status_code >= 500:
            code = _CODE_BY_STATUS.get(exc.status_code, ErrorCode.internal)
        return error_response(exc.status_code, code, str(exc.detail))
