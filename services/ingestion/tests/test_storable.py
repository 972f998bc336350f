"""Unit tests: what PostgreSQL can store, and how an update is made storable."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tasktracker.ingestion.storable import (
    INT64_MAX,
    INT64_MIN,
    Int64,
    Text,
    UtcTime,
    storable_as_is,
    storable_document,
)

EAST = timezone(timedelta(hours=5))
WEST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    "document",
    [
        None,
        {},
        [],
        {"a": [1, 2.5, True, None, "✅ naïve 🚀"]},
        {"edge": [INT64_MIN, INT64_MAX, 1e308, -1e308, 10**40]},
        {"emoji key 🚀": "\u2028"},
    ],
)
def test_storable_documents_are_left_as_they_are(document):
    assert storable_document(json.loads(json.dumps(document))) == document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"text": "a\x00b"}, {"text": "a\ufffdb"}),
        ({"a": {"k\x00": 1}}, {"a": {"k\ufffd": 1}}),
        ({"a": ["\ud800", "x\udfffy"]}, {"a": ["\ufffd", "x\ufffdy"]}),
        ({"a": {"\udfff": [1]}}, {"a": {"\ufffd": [1]}}),
        (
            {"n": [float("inf"), float("-inf"), float("nan")]},
            {"n": ["Infinity", "-Infinity", "NaN"]},
        ),
    ],
)
def test_what_jsonb_refuses_is_replaced(document, expected):
    assert storable_document(document) == expected


def test_a_valid_surrogate_pair_from_json_is_kept():
    assert storable_document(json.loads('{"e": "\\ud83d\\ude80"}')) == {"e": "🚀"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, true, null, "✅ naïve 🚀"], "b": 10000000000000000000000000000}',
        '{"e": "\\ud83d\\ude80\\u00e9", "n": -1.5e10, "t": "a\\u0001b"}',
        '{"edge": [-9223372036854775808, 9223372036854775807, 1e30]}',
    ],
)
def test_text_storable_as_is_parses_to_a_storable_document(text):
    assert storable_as_is(text)
    assert storable_document(json.loads(text)) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"t": "a\\u0000b"}',
        '{"t": "\\ud800"}',
        '{"t": "\\ud800x"}',
        '{"t": "\\udfff"}',
        '{"t": "\\ud83d\\ude80\\ude80"}',
        '{"t": "\\ud83d\\ud83d\\ude80"}',
        '{"n": NaN}',
        '{"n": -Infinity}',
        '{"n": 1e400}',
        '{"n": 1E-400}',
        '{"n": ' + "9" * 400 + ".5}",
    ],
)
def test_text_that_needs_repair_is_not_storable_as_is(text):
    assert not storable_as_is(text)


def test_deep_nesting_does_not_exhaust_the_stack():
    document: list = []
    inner = document
    for _ in range(10 * sys.getrecursionlimit()):
        inner.append([])
        inner = inner[0]
    inner.append("\x00")
    storable_document(document)
    assert inner == ["\ufffd"]


def test_bools_are_kept_as_bools():
    assert storable_document([True, False]) == [True, False]


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


_ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(_ANY_CHARACTER, max_size=8)
)
_JSON_DOCUMENTS = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(_ANY_CHARACTER, max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_JSON_DOCUMENTS)
def test_text_said_storable_as_is_needs_no_repair(document):
    # ensure_ascii: a lone surrogate can only arrive escaped; a request body is strict UTF-8.
    text = json.dumps(document, ensure_ascii=True)
    if storable_as_is(text):
        assert storable_document(json.loads(text)) == json.loads(text)
