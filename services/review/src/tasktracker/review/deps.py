"""Typed dependencies of the routes.

`CurrentActor` is who the gateway says is calling (`X-Actor`; the gateway strips any
client-sent `X-Actor*` and sets it from the verified JWT). DESIGN.md §5 wants services to trust
it only from the gateway (a signed internal header or mTLS); that is not built yet, and this
dependency is the one place where the signature check goes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from tasktracker.contracts.errors import ErrorCode
from tasktracker.servicekit.errors import ApiError

MAX_ACTOR_LENGTH = 200


async def current_actor(
    x_actor: Annotated[str | None, Header(alias="X-Actor", include_in_schema=False)] = None,
) -> str:
    actor = (x_actor or "").strip()
    if not actor or len(actor) > MAX_ACTOR_LENGTH:
        raise ApiError(401, ErrorCode.unauthorized, "no authenticated caller (X-Actor)")
    return actor


CurrentActor = Annotated[str, Depends(current_actor)]
