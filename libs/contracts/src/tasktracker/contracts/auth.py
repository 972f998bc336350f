"""Claims of the bearer JWT the gateway checks (DESIGN.md §5)."""

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from tasktracker.contracts.enums import Role
from tasktracker.contracts.primitives import NonEmptyStr


class Claims(BaseModel):
    """`sub`, per-project roles and expiry. JSON object keys are strings, so `projects` accepts
    `{"1": "pm"}` and holds `{1: Role.pm}`. `admin` makes the subject an admin of every project.
    """

    # Registered claims we do not use (iss, aud, jti, ...) are ignored, not refused.
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: NonEmptyStr
    projects: dict[PositiveInt, Role] = Field(default_factory=dict)
    admin: bool = False
    exp: int
    iat: int | None = None

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
