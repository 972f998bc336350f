import json
from typing import Any

import pytest

from tasktracker.contracts.envelope import RawEnvelope
from tasktracker.contracts.subjects import Topic
from tasktracker.contracts.ws import (
    CLOSE_REASONS,
    MAX_CLIENT_FRAME_BYTES,
    MAX_FRAME_ID_LENGTH,
    MAX_TOPIC_LENGTH,
    CloseCode,
    ErrorFrame,
    EventFrame,
    FrameError,
    PingFrame,
    PongFrame,
    SubscribedFrame,
    SubscribeFrame,
    UnsubscribedFrame,
    UnsubscribeFrame,
    encode_event_frame,
    parse_client_frame,
    parse_server_frame,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"type": "subscribe", "id": "1", "topic": "space:42:analysis_runs"}',
            SubscribeFrame(id="1", topic="space:42:analysis_runs"),
        ),
        (
            '{"type": "subscribe", "id": "2", "topic": "space:42:*", "since": 17}',
            SubscribeFrame(id="2", topic="space:42:*", since=17),
        ),
        (
            '{"type": "subscribe", "id": "2", "topic": "space:42:*", "since": null}',
            SubscribeFrame(id="2", topic="space:42:*"),
        ),
        (
            b'{"type": "unsubscribe", "id": "3", "topic": "space:42:messages"}',
            UnsubscribeFrame(id="3", topic="space:42:messages"),
        ),
        ('{"type": "ping"}', PingFrame()),
        ('{"type": "ping", "id": "p1"}', PingFrame(id="p1")),
    ],
)
def test_valid_client_frames(raw: str | bytes, expected: Any) -> None:
    frame = parse_client_frame(raw)
    assert frame == expected
    assert type(frame) is type(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "invalid JSON"),
        ("", "invalid JSON"),
        ("[1, 2]", "frame must be a JSON object"),
        ("{}", "missing field 'type'"),
        ('{"type": "shout"}', "unknown frame type 'shout'"),
        ('{"type": "subscribe", "topic": "space:1:messages"}', "missing field 'id'"),
        ('{"type": "unsubscribe", "id": "1"}', "missing field 'topic'"),
        ('{"type": "subscribe", "id": "1", "topic": "space:1:*", "sinse": 3}', "unknown field"),
        ('{"type": "subscribe", "id": "1", "topic": "space:1:*", "since": -1}', "'since'"),
    ],
)
def test_bad_client_frames(raw: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_client_frame(raw)


def test_frame_error_keeps_the_frame_id_when_readable() -> None:
    with pytest.raises(FrameError) as info:
        parse_client_frame('{"type": "subscribe", "id": "7", "topic": "t", "since": "x"}')
    assert info.value.frame_id == "7"
    with pytest.raises(FrameError) as info:
        parse_client_frame("{bad")
    assert info.value.frame_id is None


def test_unknown_frame_type_message_stays_short() -> None:
    with pytest.raises(FrameError) as info:
        parse_client_frame(json.dumps({"type": "x" * 10_000}))
    assert len(str(info.value)) < 80


def test_server_frames_serialise_with_their_type() -> None:
    frames = [
        SubscribedFrame(id="1", topic="space:1:*", recovered=True, position=10),
        UnsubscribedFrame(id="1", topic="space:1:*"),
        EventFrame(topic="space:1:messages", seq=11, event={"id": "x"}),
        ErrorFrame(id="1", code=403, message="forbidden"),
        PongFrame(id=None),
    ]
    for frame in frames:
        raw = frame.model_dump_json()
        assert json.loads(raw)["type"] == frame.model_dump()["type"]
        assert parse_server_frame(raw) == frame


def envelope_bytes() -> bytes:
    return RawEnvelope(
        type="message.updated",
        topic=Topic.messages,
        project_id=42,
        producer="ingestion",
        data={"text": 'héllo "quoted" \u2603', "n": 1.5, "nested": {"list": [1, None, True]}},
    ).to_bytes()


@pytest.mark.parametrize("topic", ["space:42:messages", "space:42:*", 'odd "tópic" \u2603'])
def test_encode_event_frame_matches_event_frame_serialisation(topic: str) -> None:
    raw_envelope = envelope_bytes()
    spliced = encode_event_frame(topic, 123, raw_envelope)
    model = EventFrame(topic=topic, seq=123, event=json.loads(raw_envelope))
    assert json.loads(spliced) == json.loads(model.model_dump_json())
    # byte-identical for pydantic-serialised envelopes, so either path may be used
    assert spliced == model.model_dump_json().encode()
    assert parse_server_frame(spliced) == model


def test_encode_event_frame_rejects_a_non_int_seq() -> None:
    with pytest.raises(TypeError):
        encode_event_frame("space:1:*", True, b"{}")
    with pytest.raises(TypeError):
        encode_event_frame("space:1:*", "1", b"{}")  # type: ignore[arg-type]


def test_close_codes() -> None:
    assert CloseCode.NORMAL.value == 1000
    assert CloseCode.GOING_AWAY.value == 1001
    assert CloseCode.INTERNAL_ERROR.value == 1011
    assert CloseCode.BAD_PROTOCOL.value == 4400
    assert CloseCode.UNAUTHORIZED.value == 4401
    assert CloseCode.SLOW_CONSUMER.value == 4429
    assert set(CLOSE_REASONS) == set(CloseCode)
    for code in CloseCode:
        assert code.reason == CLOSE_REASONS[code]
        assert 0 < len(code.reason.encode()) <= 123  # the WebSocket limit for a close reason


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping", "id": "x" * (MAX_FRAME_ID_LENGTH + 1)},
        {"type": "subscribe", "id": "x" * (MAX_FRAME_ID_LENGTH + 1), "topic": "space:1:*"},
        {"type": "unsubscribe", "id": "1", "topic": "space:1:" + "x" * MAX_TOPIC_LENGTH},
    ],
)
def test_ids_and_topics_that_are_echoed_back_are_capped(frame: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as info:
        parse_client_frame(json.dumps(frame))
    assert info.value.frame_id is None or len(info.value.frame_id) <= MAX_FRAME_ID_LENGTH
    assert len(str(info.value)) < 120


def test_the_longest_allowed_id_passes() -> None:
    frame = parse_client_frame(json.dumps({"type": "ping", "id": "x" * MAX_FRAME_ID_LENGTH}))
    assert frame == PingFrame(id="x" * MAX_FRAME_ID_LENGTH)


def test_client_frames_over_the_size_cap_are_refused_before_parsing() -> None:
    padded = json.dumps({"type": "ping", "id": "1", "pad": " " * MAX_CLIENT_FRAME_BYTES})
    with pytest.raises(FrameError, match="too large"):
        parse_client_frame(padded)
    # Every valid frame fits: the caps on its fields keep it well under the frame cap.
    biggest = SubscribeFrame(
        id="x" * MAX_FRAME_ID_LENGTH, topic="t" * MAX_TOPIC_LENGTH, since=2**63 - 1
    )
    assert len(biggest.model_dump_json()) < MAX_CLIENT_FRAME_BYTES


def test_too_many_sockets_close_code() -> None:
    assert CloseCode.TOO_MANY_SOCKETS.value == 4409
