"""Typed dependencies of the routes.

`CurrentActor` is the subject of the caller the gateway signed for (`servicekit.actor`: the
`X-Actor-Token` every route but the probes needs); no client-sent header is ever read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tasktracker.servicekit.actor import Actor, current_actor


async def current_subject(actor: Annotated[Actor, Depends(current_actor)]) -> str:
    return actor.sub


CurrentActor = Annotated[str, Depends(current_subject)]
