"""What the service's PostgreSQL columns can hold, checked at the edge.

Ids are `bigint` (64-bit), text is `text` or inside `jsonb` (no NUL character, valid UTF-8,
finite numbers), times are `timestamptz` reached through Python's `datetime` (years 1-9999 in
UTC). A value outside these is bad input, refused with a 4xx before any query sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Loc = tuple[str | int, ...]


def int_problem(value: int) -> str | None:
    if INT64_MIN <= value <= INT64_MAX:
        return None
    return "is outside the 64-bit integer range"


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (an unpaired surrogate)"
    return None


def time_problem(value: datetime) -> str | None:
    try:
        value.astimezone(UTC)
    except OverflowError:
        return "is outside years 1-9999 in UTC"
    return None


def storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


def storable_utc(value: datetime) -> datetime:
    """The same instant in UTC; a time without an offset is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    problem = time_problem(value)  # e.g. 0001-01-01T00:00:00+05:00 is in year 0 in UTC
    if problem is not None:
        raise ValueError(f"time {problem}")
    return value.astimezone(UTC)


# Types for path, query and body values (pydantic / FastAPI; a violation is a 422).
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Text = Annotated[str, AfterValidator(storable_text)]
UtcTime = Annotated[datetime, AfterValidator(storable_utc)]


@dataclass(frozen=True)
class Unstorable:
    """A value PostgreSQL can't store: where it is in its document, and why."""

    loc: Loc
    type: str
    msg: str


# A location while walking: (parent, key), linked, so that going deeper copies nothing.
_Where = tuple[Any, str | int] | None


def _loc(where: _Where) -> Loc:
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    return tuple(reversed(keys))


def find_unstorable(document: Any) -> Unstorable | None:
    """A value of a document decoded by `json.loads` that can't be stored, or None: an integer
    beyond 64 bits, a number that isn't finite, a string (or key) with NUL or not valid
    Unicode. Pure; iterative, so a deeply nested document can't exhaust the call stack."""
    stack: list[tuple[_Where, Any]] = [(None, document)]
    push = stack.append
    while stack:
        where, value = stack.pop()
        kind = type(value)  # json.loads makes exact types; a bool is not an int here
        if kind is str:
            if (problem := text_problem(value)) is not None:
                return Unstorable(_loc(where), "text", f"text {problem}")
        elif kind is dict:
            for key, item in value.items():
                if (problem := text_problem(key)) is not None:
                    return Unstorable(_loc((where, key)), "text", f"key {problem}")
                push(((where, key), item))
        elif kind is list:
            for i, item in enumerate(value):
                push(((where, i), item))
        elif kind is int:
            if (problem := int_problem(value)) is not None:
                return Unstorable(_loc(where), "int64", f"integer {problem}")
        elif kind is float and not math.isfinite(value):
            return Unstorable(_loc(where), "number", "number is not finite")
    return None
