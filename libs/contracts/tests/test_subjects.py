from typing import Any

import pytest

from tasktracker.contracts.subjects import (
    STREAM_SUBJECT,
    ClientTopic,
    SubjectError,
    SubjectParts,
    Topic,
    client_topic,
    client_topic_of_subject,
    parse_client_topic,
    parse_subject,
    space_filter,
    subject,
)


def test_subject_is_built_from_its_three_parts() -> None:
    assert subject(42, Topic.analysis_runs, "run_started") == "space.42.analysis_runs.run_started"
    assert subject(42, "messages", "message.updated") == "space.42.messages.message.updated"
    assert (
        subject(7, Topic.messages, "ingestion.chat_bound")
        == "space.7.messages.ingestion.chat_bound"
    )


@pytest.mark.parametrize("project_id", [0, -1, True, False, "42", 4.2, None])
def test_subject_rejects_a_project_id_that_is_not_a_positive_int(project_id: Any) -> None:
    with pytest.raises(SubjectError):
        subject(project_id, Topic.messages, "message.updated")


@pytest.mark.parametrize("topic", ["unknown", "Messages", "", "messages.x", "*"])
def test_subject_rejects_an_unknown_topic(topic: str) -> None:
    with pytest.raises(SubjectError):
        subject(1, topic, "x")


@pytest.mark.parametrize(
    "event_type",
    ["", ".", "a.", ".a", "a..b", "a b", "a\tb", "*", "a.*", ">", "a.>", "run*", None, 3],
)
def test_subject_rejects_empty_tokens_whitespace_and_wildcards(event_type: Any) -> None:
    with pytest.raises(SubjectError):
        subject(1, Topic.messages, event_type)


def test_subject_error_is_a_value_error() -> None:
    assert issubclass(SubjectError, ValueError)


def test_stream_subject_captures_every_space() -> None:
    assert STREAM_SUBJECT == "space.>"


def test_parse_subject_reverses_subject() -> None:
    parts = parse_subject("space.42.messages.message.updated")
    assert parts == SubjectParts(project_id=42, topic=Topic.messages, event_type="message.updated")
    assert parts.topic is Topic.messages
    assert str(parts) == "space.42.messages.message.updated"


@pytest.mark.parametrize("topic", list(Topic))
def test_parse_subject_round_trips_every_topic(topic: Topic) -> None:
    assert parse_subject(subject(3, topic, "a.b_c")) == SubjectParts(3, topic, "a.b_c")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "space",
        "space.42",
        "space.42.messages",
        "space.42.messages.",
        "other.42.messages.x",
        "space.0.messages.x",
        "space.-1.messages.x",
        "space.042.messages.x",
        "space.x.messages.x",
        "space.*.messages.x",
        "space.42.unknown.x",
        "space.42.messages.*",
        "space.42.messages.>",
        "space.42.messages.a..b",
        "space.42.messages.a b",
        "space:42:messages",
    ],
)
def test_parse_subject_rejects_malformed_subjects(value: str) -> None:
    with pytest.raises(SubjectError):
        parse_subject(value)


def test_parse_subject_rejects_non_strings() -> None:
    with pytest.raises(SubjectError):
        parse_subject(42)  # type: ignore[arg-type]


def test_client_topic_strings() -> None:
    assert client_topic(42, Topic.messages) == "space:42:messages"
    assert client_topic(42, "proposals") == "space:42:proposals"
    assert client_topic(42, None) == "space:42:*"


@pytest.mark.parametrize("project_id", [0, -3, True, "1"])
def test_client_topic_rejects_bad_project_ids(project_id: Any) -> None:
    with pytest.raises(SubjectError):
        client_topic(project_id, Topic.messages)
    with pytest.raises(SubjectError):
        ClientTopic(project_id, Topic.messages)


def test_parse_client_topic_for_one_topic() -> None:
    parsed = parse_client_topic("space:42:messages")
    assert parsed == ClientTopic(project_id=42, topic=Topic.messages)
    assert str(parsed) == "space:42:messages"
    assert parsed.nats_filter == "space.42.messages.>"


def test_parse_client_topic_for_all_topics_of_a_space() -> None:
    parsed = parse_client_topic("space:42:*")
    assert parsed == ClientTopic(project_id=42, topic=None)
    assert str(parsed) == "space:42:*"
    assert parsed.nats_filter == "space.42.>"


def test_client_topic_normalises_a_string_topic() -> None:
    assert ClientTopic(5, "topics").topic is Topic.topics  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "space",
        "space:42",
        "space:42:",
        "space:x:messages",
        "space:0:messages",
        "space:-1:messages",
        "space:042:messages",
        "space::messages",
        "space:42:unknown",
        "space:42:messages:extra",
        "space:42:>",
        "spaces:42:messages",
        "space.42.messages",
        "space:*:messages",
    ],
)
def test_parse_client_topic_rejects_malformed_topics(value: str) -> None:
    with pytest.raises(SubjectError):
        parse_client_topic(value)


def test_client_topic_covers_the_events_of_its_space_and_topic() -> None:
    event = parse_subject("space.42.messages.message.updated")
    assert ClientTopic(42, Topic.messages).covers(event)
    assert ClientTopic(42, None).covers(event)
    assert not ClientTopic(42, Topic.topics).covers(event)
    assert not ClientTopic(43, None).covers(event)


@pytest.mark.parametrize(
    ("project_id", "topic", "expected"),
    [
        (None, Topic.messages, "space.*.messages.>"),
        (42, None, "space.42.>"),
        (42, Topic.messages, "space.42.messages.>"),
        (None, None, "space.>"),
        (42, "proposals", "space.42.proposals.>"),
    ],
)
def test_space_filter(project_id: int | None, topic: Topic | None, expected: str) -> None:
    assert space_filter(project_id, topic) == expected


def test_space_filter_validates_its_parts() -> None:
    with pytest.raises(SubjectError):
        space_filter(0)
    with pytest.raises(SubjectError):
        space_filter(1, "nope")


def test_client_topic_of_subject() -> None:
    assert client_topic_of_subject("space.42.messages.message.updated") == "space:42:messages"
    assert client_topic_of_subject("space.7.analysis_runs.run_started") == "space:7:analysis_runs"
    with pytest.raises(SubjectError):
        client_topic_of_subject("space.42.>")
