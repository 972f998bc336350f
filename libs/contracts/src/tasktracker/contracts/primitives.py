"""Constrained field types shared by the wire models."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field


def to_utc(value: datetime) -> datetime:
    """Return the same instant expressed in UTC (the value must be timezone-aware)."""
    return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


# Strict so that `true` (a bool is an int in Python) and "42" are not taken for project 1 / 42.
ProjectId = Annotated[int, Field(strict=True, gt=0)]

# Naive datetimes are rejected; aware ones are normalised to UTC so every producer writes "...Z".
UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]

Count = Annotated[int, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
