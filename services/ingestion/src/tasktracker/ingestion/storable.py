"""What the service's PostgreSQL columns can hold.

Ids are `bigint` (64-bit), text is `text` or inside `jsonb` (no NUL character, valid UTF-8,
finite numbers), times are `timestamptz` reached through Python's `datetime` (years 1-9999 in
UTC). In a request of our own API a value outside these is bad input, refused with a 422. A
Telegram update is never refused: `storable_document` repairs what `jsonb` can't hold, and the
parser (`domain.py`) records a message whose ids or dates no column can hold as unusable.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


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


_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable_string(value: str) -> str:
    """The string with NUL and unpaired surrogates replaced by U+FFFD (json.loads has already
    joined every valid surrogate pair, so any surrogate left is unpaired)."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    if not value.isascii():
        value = _SURROGATE.sub(REPLACEMENT, value)
    return value


def _storable_scalar(value: Any) -> Any:
    kind = type(value)  # json.loads makes exact types; a bool is not an int here
    if kind is str:
        return storable_string(value)
    if kind is float and not math.isfinite(value):
        # PostgreSQL's jsonb has no Infinity or NaN; keep what was sent, as text.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# What in JSON text `json.loads` accepts but `jsonb` refuses, or `storable_document` would
# change: NaN/Infinity, a NUL or surrogate escape (a valid pair passes), and numbers a float
# can't hold (a 3-digit exponent, 309+ integer digits; in JSON a digit comes before either).
# Any of these may also match inside a string ("Infinity", an escaped backslash): such text
# only takes the slower way. Three checks, the costly ones only where they can match: one
# regex of every alternative tried each of them at every character, three times slower.
_BAD_ESCAPE = re.compile(
    r"\\u0000"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]"
)
_HUGE_NUMBER = re.compile(r"\d(?:[eE][+-]?\d{3}|\d{308})")


def storable_as_is(json_text: str) -> bool:
    """Whether JSON text that `json.loads` parsed can go into a `jsonb` column as it is: then
    `storable_document` of what it parsed to changes nothing."""
    if "NaN" in json_text or "Infinity" in json_text:
        return False
    if "\\u" in json_text and _BAD_ESCAPE.search(json_text):
        return False
    return _HUGE_NUMBER.search(json_text) is None


def storable_document(document: Any) -> Any:
    """A document decoded by `json.loads`, changed in place so that `jsonb` accepts it: NUL
    and unpaired surrogates in strings and keys become U+FFFD, numbers that are not finite
    become strings. Integers of any size are kept (jsonb numbers are arbitrary-precision).
    Iterative, so a deeply nested document can't exhaust the call stack."""
    holder = [document]
    stack: list[Any] = [holder]
    while stack:
        container = stack.pop()
        if type(container) is list:
            for i, value in enumerate(container):
                if type(value) in (dict, list):
                    stack.append(value)
                else:
                    container[i] = _storable_scalar(value)
            continue
        for key, value in list(container.items()):
            fixed_key = storable_string(key)
            if type(value) in (dict, list):
                stack.append(value)
            else:
                value = _storable_scalar(value)
            if fixed_key != key:
                del container[key]
            container[fixed_key] = value
    return holder[0]
