"""Bearer JWTs: reading one from a request, verifying it into `Claims`, and issuing one."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jwt
from pydantic import ValidationError

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role

if TYPE_CHECKING:
    from tasktracker.gateway.settings import GatewaySettings


class AuthError(Exception):
    """No usable token; the message is safe to show the client."""


class TokenVerifier:
    """Checks bearer JWTs with one algorithm and one key.

    The key is parsed once, here: a malformed PEM stops the gateway at start instead of
    failing every request. A client sends the same token with every request and socket, and
    PyJWT costs 50 to 100 µs a token (it prepares the key again and checks the base64 character
    by character each time): the claims of the last `remembered` tokens that verified are
    kept, and a token seen again is only checked for expiry, as PyJWT checks it. Tokens that
    fail are not kept; `iat` and `nbf` that passed once stay passed, time only moving on.
    """

    def __init__(
        self,
        algorithm: str,
        key: str | bytes,
        leeway: float = 0,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        remembered: int = 4096,
    ) -> None:
        self.algorithm = algorithm
        try:
            self.key: Any = jwt.get_algorithm_by_name(algorithm).prepare_key(key)
        except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
            kind = "secret" if algorithm.startswith("HS") else "public key"
            raise ValueError(f"the JWT {kind} for {algorithm} is not usable: {exc}") from None
        self.leeway = leeway
        self.issuer = issuer
        self.audience = audience
        self._required = [
            "exp",
            "sub",
            *(["iss"] if issuer else []),
            *(["aud"] if audience else []),
        ]
        self._verified = functools.lru_cache(maxsize=remembered)(self._decode)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> TokenVerifier:
        return cls(
            settings.jwt_algorithm,
            settings.verification_key(),
            settings.jwt_leeway_seconds,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    def verify(self, token: str | None) -> Claims:
        if not token:
            raise AuthError("missing bearer token")
        claims = self._verified(token)
        if claims.exp <= time.time() - self.leeway:
            raise AuthError("token expired")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],  # never the token's own `alg` choice
                leeway=self.leeway,  # on exp, nbf and iat alike
                issuer=self.issuer,
                audience=self.audience,
                options={
                    "require": self._required,
                    "enforce_minimum_key_length": True,
                    "verify_aud": self.audience is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
        try:
            return Claims.model_validate(payload)
        except ValidationError:
            raise AuthError("invalid token claims") from None


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    """The token of `Authorization: Bearer <t>`, else of `?token=<t>` (browsers' WebSocket API
    cannot set headers)."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if query is not None:
        return query.get("token") or None
    return None


def issue_token(
    key: str | bytes,
    *,
    sub: str,
    projects: Mapping[int, Role | str] | None = None,
    admin: bool = False,
    ttl_seconds: float = 8 * 3600,
    algorithm: str = "HS256",
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = Claims(
        sub=sub,
        projects=dict(projects or {}),
        admin=admin,
        exp=issued + int(ttl_seconds),
        iat=issued,
    )
    return jwt.encode(claims.to_jwt_payload(), key, algorithm=algorithm)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `45s`, `30m`, `8h`, `2d` → seconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 45s, 30m, 8h, 2d)")
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return seconds


def parse_project_role(text: str) -> tuple[int, Role]:
    """`1=pm` → (1, Role.pm)."""
    project, sep, role = text.partition("=")
    if not sep:
        raise ValueError(f"expected <project_id>=<role>, got {text!r}")
    try:
        project_id = int(project)
        parsed_role = Role(role.strip())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ValueError(f"expected <project_id>=<{roles}>, got {text!r}") from None
    if project_id <= 0:
        raise ValueError(f"project id must be positive, got {project_id}")
    return project_id, parsed_role
