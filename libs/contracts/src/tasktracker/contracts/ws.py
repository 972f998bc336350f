"""WebSocket protocol between browsers and the gateway (DESIGN.md §5).

Client → server: `subscribe`, `unsubscribe`, `ping`. Server → client: `subscribed`,
`unsubscribed`, `event`, `error`, `pong`. `topic` is a client topic such as
`space:42:analysis_runs` (see `subjects.parse_client_topic`); `seq` and `position` are JetStream
stream sequences, so a client resubscribes with `since=<last seq it saw>` and misses nothing.
"""

import json
from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import to_json

# Ids and topics come back to the client (`subscribed`, `pong`, `error`), so a client could make
# the gateway hold and send back whatever it sent: both are capped, and so is the whole frame.
MAX_FRAME_ID_LENGTH = 128
MAX_TOPIC_LENGTH = 64  # `space:<project id>:knowledge_extraction` is 40 characters at most
MAX_CLIENT_FRAME_BYTES = 4096  # the largest valid frame is well under 1 KB

FrameId = Annotated[str, Field(max_length=MAX_FRAME_ID_LENGTH)]
ClientTopicName = Annotated[str, Field(max_length=MAX_TOPIC_LENGTH)]


class _ClientFrameBase(BaseModel):
    # Unknown keys are refused so a misspelt `since` fails loudly instead of replaying nothing.
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubscribeFrame(_ClientFrameBase):
    type: Literal["subscribe"] = "subscribe"
    id: FrameId
    topic: ClientTopicName
    since: int | None = Field(default=None, ge=0)  # last seq seen; replay everything after it


class UnsubscribeFrame(_ClientFrameBase):
    type: Literal["unsubscribe"] = "unsubscribe"
    id: FrameId
    topic: ClientTopicName


class PingFrame(_ClientFrameBase):
    type: Literal["ping"] = "ping"
    id: FrameId | None = None


ClientFrame = Annotated[SubscribeFrame | UnsubscribeFrame | PingFrame, Field(discriminator="type")]


class _ServerFrameBase(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubscribedFrame(_ServerFrameBase):
    type: Literal["subscribed"] = "subscribed"
    id: str
    topic: str
    recovered: bool  # True if every event after `since` was replayed (False: history expired)
    position: int  # stream sequence the subscription starts after; live events have seq > it


class UnsubscribedFrame(_ServerFrameBase):
    type: Literal["unsubscribed"] = "unsubscribed"
    id: str
    topic: str


class EventFrame(_ServerFrameBase):
    type: Literal["event"] = "event"
    topic: str
    seq: int
    event: dict[str, Any]  # the envelope, as published


class ErrorFrame(_ServerFrameBase):
    type: Literal["error"] = "error"
    id: str | None = None  # id of the client frame that failed, if it had one
    code: int  # HTTP-style status: 400 bad frame, 401, 403/404 topic not allowed, 500
    message: str


class PongFrame(_ServerFrameBase):
    type: Literal["pong"] = "pong"
    id: str | None = None


ServerFrame = Annotated[
    SubscribedFrame | UnsubscribedFrame | EventFrame | ErrorFrame | PongFrame,
    Field(discriminator="type"),
]

_client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_server_frame_adapter: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


class FrameError(ValueError):
    """A client frame the gateway cannot accept; the message is short enough to send back.

    `frame_id` is the frame's `id` when it could be read, so the error frame can echo it.
    """

    def __init__(self, message: str, frame_id: str | None = None) -> None:
        super().__init__(message)
        self.frame_id = frame_id


def _shorten(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"][1:])  # loc[0] is the union tag
    match error["type"]:
        case "json_invalid":
            return "invalid JSON"
        case "model_attributes_type" | "model_type" | "dict_type":
            return "frame must be a JSON object"
        case "union_tag_not_found":
            return "missing field 'type'"
        case "union_tag_invalid":
            return f"unknown frame type {_shorten(error['input'].get('type'))}"
        case "missing":
            return f"missing field {field!r}"
        case "extra_forbidden":
            return f"unknown field {field!r}"
        case _:
            return f"invalid field {field!r}: {error['msg']}"


def _frame_id(raw: str | bytes) -> str | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    frame_id = value.get("id") if isinstance(value, dict) else None
    if isinstance(frame_id, str) and len(frame_id) <= MAX_FRAME_ID_LENGTH:
        return frame_id
    return None


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Parse one client text frame; raises FrameError with a short, client-safe message."""
    if len(raw) > MAX_CLIENT_FRAME_BYTES:  # characters of a str: at most 4 bytes each
        raise FrameError(f"frame too large (at most {MAX_CLIENT_FRAME_BYTES} bytes)")
    try:
        return _client_frame_adapter.validate_json(raw)
    except ValidationError as exc:
        raise FrameError(_describe(exc), _frame_id(raw)) from None


def parse_server_frame(raw: str | bytes) -> ServerFrame:
    """Parse a server frame (for clients and tests); raises pydantic's ValidationError."""
    return _server_frame_adapter.validate_json(raw)


def encode_event_frame(topic: str, seq: int, envelope_json: bytes) -> bytes:
    """Build an `event` frame around an already-serialised envelope.

    The gateway serialises each event once and splices it into every subscriber's frame. The
    result is byte-for-byte `EventFrame(topic=topic, seq=seq, event=<envelope>).model_dump_json()`
    when `envelope_json` is compact pydantic JSON such as `Envelope.to_bytes()` (and equal
    as JSON for any other valid JSON object). The envelope bytes are trusted, not re-validated.
    """
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError(f"seq must be an int, got {seq!r}")
    return b"".join(
        (
            b'{"type":"event","topic":',
            to_json(topic),
            b',"seq":',
            str(seq).encode(),
            b',"event":',
            envelope_json,
            b"}",
        )
    )


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses."""

    NORMAL = 1000
    """The client or the gateway ended the session normally."""
    GOING_AWAY = 1001
    """The gateway is shutting down; reconnect with `since`."""
    MESSAGE_TOO_BIG = 1009
    """A client frame was larger than the gateway accepts."""
    INTERNAL_ERROR = 1011
    """The gateway hit an unexpected error; reconnect with `since`."""
    SERVICE_RESTART = 1012
    """The gateway process is restarting (its server's shutdown); reconnect with `since`."""
    BAD_PROTOCOL = 4400
    """The client broke the protocol (e.g. a binary or oversized frame)."""
    UNAUTHORIZED = 4401
    """Token missing, invalid or expired (also sent when it expires mid-connection)."""
    TOO_MANY_SOCKETS = 4409
    """The token or the client address already holds as many sockets as allowed; close one
    before reconnecting (reconnecting at once would be refused the same way)."""
    SLOW_CONSUMER = 4429
    """The client read too slowly and its send queue filled up; reconnect with `since`."""

    @property
    def reason(self) -> str:
        """Short text for the close frame's reason (must stay under 123 bytes)."""
        return CLOSE_REASONS[self]


CLOSE_REASONS: Mapping[CloseCode, str] = MappingProxyType(
    {
        CloseCode.NORMAL: "normal closure",
        CloseCode.GOING_AWAY: "server going away",
        CloseCode.MESSAGE_TOO_BIG: "frame too large",
        CloseCode.INTERNAL_ERROR: "internal error",
        CloseCode.SERVICE_RESTART: "server restarting",
        CloseCode.BAD_PROTOCOL: "protocol error",
        CloseCode.UNAUTHORIZED: "unauthorized: token missing, invalid or expired",
        CloseCode.TOO_MANY_SOCKETS: "too many connections for this token or address",
        CloseCode.SLOW_CONSUMER: "slow consumer: send queue full",
    }
)
