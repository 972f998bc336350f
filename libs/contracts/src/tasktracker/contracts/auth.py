"""Claims of the bearer JWT the gateway checks (DESIGN.md §5).

Claims are checked strictly: a token is signed by someone else (an identity provider), and a
lenient reading would let `"admin": "false"` mean admin or `"01"` name project 1.
"""

import math
import re
import time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints

from tasktracker.contracts.enums import Role

# `sub` is forwarded upstream as the `X-Actor` header exactly as it is: printable ASCII with no
# surrounding whitespace, so that it can be neither mangled nor used to inject a header.
MAX_SUB_LENGTH = 256
Subject = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SUB_LENGTH, pattern=r"^[!-~](?:[ -~]*[!-~])?$"),
]

_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,17}")  # fits a PostgreSQL bigint


def _project_key(value: object) -> int:
    """A project id as a JSON object key: `"42"`, never `"042"`, `"+42"` or `" 42"`."""
    if isinstance(value, str) and _CANONICAL_ID.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value  # built in Python (e.g. `Claims(projects={1: Role.pm})`)
    raise ValueError("project keys must be positive integers in canonical form")


def _numeric_date(value: object) -> int:
    """RFC 7519 NumericDate: a JSON number of seconds since the epoch, possibly fractional."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a number of seconds since the epoch")
    return math.floor(value)


ProjectKey = Annotated[int, BeforeValidator(_project_key)]
NumericDate = Annotated[int, BeforeValidator(_numeric_date)]


class Claims(BaseModel):
    """`sub`, per-project roles and expiry. JSON object keys are strings, so `projects` accepts
    `{"1": "pm"}` and holds `{1: Role.pm}`. `admin` makes the subject an admin of every project.
    """

    # Registered claims we do not use (iss, aud, jti, ...) are ignored, not refused; the
    # gateway checks `iss` and `aud` itself when configured to.
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: Subject
    projects: dict[ProjectKey, Role] = Field(default_factory=dict)
    admin: StrictBool = False
    exp: NumericDate
    iat: NumericDate | None = None
    nbf: NumericDate | None = None

    def role_in(self, project_id: int) -> Role | None:
        """The subject's role in the project, None if it has no access at all."""
        if self.admin:
            return Role.admin
        return self.projects.get(project_id)

    def can(self, project_id: int, required: Role | str) -> bool:
        role = self.role_in(project_id)
        return role is not None and role.allows(required)

    def is_expired(self, now: float | None = None) -> bool:
        """True once `exp` (seconds since the epoch) is reached."""
        return (time.time() if now is None else now) >= self.exp

    def to_jwt_payload(self) -> dict[str, Any]:
        """JSON-ready claims for signing a token (project ids become string keys)."""
        return self.model_dump(mode="json", exclude_none=True)
