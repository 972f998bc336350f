"""Who is calling a service, as the gateway vouches for it (DESIGN.md §5).

The gateway verifies the client's bearer JWT, then signs a short-lived internal token for each
request it proxies (`X-Actor-Token`: HS256 with the key every service shares with it, audience
`tasktracker-internal`, bound to the request's method, path and request id). `ActorGuard`
checks it on every route of a service but the few it is told are open, so reaching a service's
port directly grants nothing, and no route can forget the check.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from tasktracker.contracts.auth import ProjectKey, Subject
from tasktracker.contracts.enums import Role
from tasktracker.contracts.errors import ErrorCode
from tasktracker.servicekit.errors import ApiError, error_response

ACTOR_TOKEN_HEADER = "X-Actor-Token"
INTERNAL_AUDIENCE = "tasktracker-internal"
ALGORITHM = "HS256"
TOKEN_TTL_SECONDS = 60
LEEWAY_SECONDS = 5  # clock skew between the gateway's host and a service's
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
# Open on every service: probes and scrapers do not come through the gateway.
ALWAYS_OPEN = frozenset({"/healthz", "/readyz", "/metrics"})
KEY_ENV = "TT_INTERNAL_ACTOR_KEY"

_TOKEN_HEADER = ACTOR_TOKEN_HEADER.lower().encode()
_REQUEST_ID_HEADER = b"x-request-id"
_REQUIRED = ["sub", "exp", "iat", "aud", "htm", "htu", "rid"]


class Actor(BaseModel):
    """The verified caller: subject, global admin flag and per-project roles."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: Subject
    admin: StrictBool = False
    projects: dict[ProjectKey, Role] = Field(default_factory=dict)


class ActorTokenError(Exception):
    """No usable internal token; the message is safe to show the caller."""


def actor_key(value: str | None, name: str = KEY_ENV) -> bytes:
    """The key as bytes, or a clear error if it is missing or too short to be an HS256 key."""
    key = (value or "").encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"{name} must be set to at least {MIN_KEY_BYTES} bytes: the gateway signs each "
            "request's caller with it and every service checks it (e.g. `openssl rand -hex 32`)"
        )
    return key


class ActorTokenSigner:
    """The gateway's side: one token per proxied request."""

    def __init__(self, key: bytes, ttl_seconds: int = TOKEN_TTL_SECONDS) -> None:
        self.key = key
        self.ttl = ttl_seconds

    def sign(
        self,
        *,
        sub: str,
        admin: bool,
        projects: Mapping[int, Role | str],
        method: str,
        path: str,
        request_id: str,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        payload: dict[str, Any] = {
            "sub": sub,
            "admin": admin,
            "projects": {str(pid): str(role) for pid, role in projects.items()},
            "iat": issued,
            "exp": issued + self.ttl,
            "aud": INTERNAL_AUDIENCE,
            "htm": method,
            "htu": path,
            "rid": request_id,
        }
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)


class ActorTokenVerifier:
    """A service's side: the token must be the gateway's, fresh, and minted for this request."""

    def __init__(self, key: bytes, leeway: float = LEEWAY_SECONDS) -> None:
        self.key = key
        self.leeway = leeway

    def verify(self, token: str | None, *, method: str, path: str, request_id: str) -> Actor:
        if not token:
            raise ActorTokenError(
                f"missing {ACTOR_TOKEN_HEADER}: call this service through the gateway"
            )
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=INTERNAL_AUDIENCE,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise ActorTokenError("internal actor token expired") from None
        except jwt.PyJWTError:
            raise ActorTokenError("invalid internal actor token") from None
        if (payload["htm"], payload["htu"], payload["rid"]) != (method, path, request_id):
            raise ActorTokenError("internal actor token was issued for another request")
        try:
            return Actor.model_validate(payload)
        except ValidationError:
            raise ActorTokenError("invalid internal actor token claims") from None


class ActorGuard:
    """ASGI middleware: every HTTP request but those to `open_paths` needs a valid internal
    token; the verified `Actor` is left in `request.state.actor` for `CurrentActor`."""

    def __init__(self, app: ASGIApp, verifier: ActorTokenVerifier, open_paths: Iterable[str] = ()):
        self.app = app
        self.verifier = verifier
        self.open_paths = ALWAYS_OPEN | frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        token = request_id = None
        for name, value in scope["headers"]:
            if name == _TOKEN_HEADER:
                token = value.decode("latin-1")
            elif name == _REQUEST_ID_HEADER:
                request_id = value.decode("latin-1")
        # The path as sent, before percent-decoding: what the gateway saw and signed.
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            actor = self.verifier.verify(
                token, method=scope.get("method", "GET"), path=path, request_id=request_id or ""
            )
        except ActorTokenError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await error_response(401, ErrorCode.unauthorized, str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


async def current_actor(request: Request) -> Actor:
    actor = getattr(request.state, "actor", None)
    if actor is None:  # a route on an open path asked for a caller: there is none
        raise ApiError(401, ErrorCode.unauthorized, "no authenticated caller")
    return actor


async def optional_actor(request: Request) -> Actor | None:
    return getattr(request.state, "actor", None)


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
