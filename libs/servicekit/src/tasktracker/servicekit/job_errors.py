"""What an error means for a job: parked at once, waited out without spending a try, or
retried; and how it is described in logs and on the dead-letter stream."""

from __future__ import annotations

from tasktracker.servicekit.db import is_data_error, is_database_unavailable

ERROR_TEXT_LIMIT = 2000


class PermanentJobError(Exception):
    """Raise from a job when trying again can never succeed: it is parked at once."""


class DependencyUnavailable(Exception):
    """Raise from a job when something it needs is down (not the job's fault): the job waits
    for it without spending a try, like it does for an unreachable database."""


def is_permanent(error: BaseException) -> bool:
    return isinstance(error, PermanentJobError) or is_data_error(error)


def must_wait(error: BaseException) -> bool:
    return isinstance(error, DependencyUnavailable) or is_database_unavailable(error)


def describe_error(error: BaseException) -> tuple[str, str]:
    """(qualified type, message) of an error, as logs and the dead-letter stream show it."""
    return _qualified_name(error), str(error)[:ERROR_TEXT_LIMIT]


def error_details(error: BaseException) -> dict[str, str]:
    """What a parked job records of its error. SQLAlchemy wraps driver errors in a generic
    `DBAPIError`; the driver's own error (the root cause) and its SQLSTATE say what it was."""
    error_type, text = describe_error(error)
    details = {"error_type": error_type, "error": f"{error_type}: {text}"}
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    if root is not error:
        details["root_cause"] = _qualified_name(root)
    driver_error = getattr(error, "orig", None)
    sqlstate = getattr(root, "sqlstate", None) or getattr(driver_error, "sqlstate", None)
    if sqlstate:
        details["sqlstate"] = str(sqlstate)
    return details


def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"
