"""Unit tests: what PostgreSQL can store, and the webhook's check of a whole update."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiogram.types import Update
from pydantic import TypeAdapter, ValidationError

from tasktracker.ingestion.domain import unstorable
from tasktracker.ingestion.storable import (
    INT64_MAX,
    INT64_MIN,
    Int64,
    Text,
    UtcTime,
    find_unstorable,
)

from .support import SAMPLES

EAST = timezone(timedelta(hours=5))
WEST = timezone(timedelta(hours=-5))


def load(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


@pytest.mark.parametrize(
    "document",
    [
        None,
        {},
        [],
        {"a": [1, 2.5, True, None, "✅ naïve 🚀"]},
        {"edge": [INT64_MIN, INT64_MAX, 1e308, -1e308]},
        {"emoji key 🚀": "\u2028"},
    ],
)
def test_storable_documents(document):
    assert find_unstorable(document) is None


@pytest.mark.parametrize(
    ("document", "loc", "type_"),
    [
        (INT64_MAX + 1, (), "int64"),
        ({"update_id": 10**20}, ("update_id",), "int64"),
        ({"a": [0, {"b": INT64_MIN - 1}]}, ("a", 1, "b"), "int64"),
        ({"text": "a\x00b"}, ("text",), "text"),
        ({"a": {"k\x00": 1}}, ("a", "k\x00"), "text"),
        ({"a": ["\ud800"]}, ("a", 0), "text"),
        ({"a": {"\udfff": 1}}, ("a", "\udfff"), "text"),
        ({"n": float("inf")}, ("n",), "number"),
        ({"n": float("-inf")}, ("n",), "number"),
        ({"n": float("nan")}, ("n",), "number"),
    ],
)
def test_unstorable_documents(document, loc, type_):
    problem = find_unstorable(document)
    assert problem is not None
    assert (problem.loc, problem.type) == (loc, type_)
    assert problem.msg


def test_one_of_several_problems_is_reported():
    problem = find_unstorable({"a": "fine", "b": [1, "x\x00"], "c": 10**20})
    assert problem is not None and problem.loc in {("b", 1), ("c",)}


def test_deep_nesting_does_not_exhaust_the_stack():
    document: list = []
    inner = document
    for _ in range(10 * sys.getrecursionlimit()):
        inner.append([])
        inner = inner[0]
    inner.append(10**20)
    assert find_unstorable(document) is not None


def test_bools_are_not_taken_for_integers():
    assert find_unstorable([True, False]) is None


@pytest.mark.parametrize(
    ("adapter", "good", "bad"),
    [
        (Int64, [INT64_MIN, 0, INT64_MAX], [INT64_MIN - 1, INT64_MAX + 1, 10**20]),
        (Text, ["", "plain", "✅ 🚀"], ["a\x00b", "\ud800"]),
    ],
)
def test_edge_types(adapter, good, bad):
    validate = TypeAdapter(adapter).validate_python
    for value in good:
        assert validate(value) == value
    for value in bad:
        with pytest.raises(ValidationError):
            validate(value)


def test_utc_time_is_the_same_instant_in_utc_and_within_python_years():
    validate = TypeAdapter(UtcTime).validate_python
    utc = validate(datetime(2024, 6, 10, 11, 0, tzinfo=EAST))
    assert utc == datetime(2024, 6, 10, 6, 0, tzinfo=UTC) and utc.tzinfo is UTC
    assert validate(datetime(1, 1, 1)) == datetime(1, 1, 1, tzinfo=UTC)  # naive: UTC
    assert validate(datetime.max.replace(tzinfo=UTC)).year == 9999
    for value in (datetime(1, 1, 1, tzinfo=EAST), datetime.max.replace(tzinfo=WEST)):
        with pytest.raises(ValidationError, match="years 1-9999"):
            validate(value)


def check(payload: dict):
    return unstorable(payload, Update.model_validate(payload))


@pytest.mark.parametrize("name", ["text", "edited", "channel_post", "reply", "my_chat_member"])
def test_samples_are_storable(name):
    assert check(load(name)) is None


def test_unstorable_value_anywhere_in_the_body():
    payload = load("text")
    payload["message"]["from"]["last_name"] = "N\x00"
    problem = check(payload)
    assert problem is not None
    assert (problem.loc, problem.type) == (("message", "from", "last_name"), "text")


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        # aiogram's lax parsing turns digit strings into ints...
        (("update_id",), str(10**20), ("update_id",)),
        (("message", "chat", "id"), str(INT64_MIN - 1), ("message", "chat_id")),
        (("message", "message_id"), str(INT64_MAX + 1), ("message", "message_id")),
        (("message", "from", "id"), str(10**19), ("message", "telegram_user_id")),
        # ...and reads ISO strings with any offset as dates.
        (("message", "date"), "0001-01-01T00:00:00+05:00", ("message", "sent_at")),
        (("message", "date"), "9999-12-31T23:59:59-05:00", ("message", "sent_at")),
    ],
)
def test_column_values_out_of_range_after_aiogram_parsed_them(path, value, loc):
    payload = load("text")
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problem = check(payload)
    assert problem is not None and problem.loc == loc


def test_reply_and_sender_chat_ids_are_checked_too():
    payload = load("text")
    payload["message"]["reply_to_message"] = {
        "message_id": str(10**20),
        "date": 0,
        "chat": payload["message"]["chat"],
    }
    assert check(payload).loc == ("message", "reply_to_message_id")
    channel = load("channel_post")
    channel["channel_post"]["sender_chat"]["id"] = str(-(10**20))
    channel["channel_post"]["chat"]["id"] = str(-(10**20))
    assert check(channel).loc == ("channel_post", "chat_id")


@pytest.mark.parametrize("edit_date", [10**15, -(10**12), INT64_MAX])
def test_edit_date_that_is_no_time(edit_date):
    payload = load("edited")
    payload["edited_message"]["edit_date"] = edit_date
    problem = check(payload)
    assert problem is not None
    assert (problem.loc, problem.type) == (("edited_message", "edit_date"), "time")
