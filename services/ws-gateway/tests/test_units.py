"""Pure pieces: the replay/live seam of a subscription, recovery, header rules, summaries."""

import logging

import pytest
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from tasktracker.contracts.subjects import ClientTopic
from tasktracker.contracts.ws import EventFrame
from tasktracker.gateway.app import RedactTokens
from tasktracker.gateway.forwarded_headers import client_response_headers, upstream_request_headers
from tasktracker.gateway.hub import StreamBounds, Subscription, is_recoverable, stream_sequence
from tasktracker.gateway.metrics import parse
from tasktracker.gateway.routing import RouteTable, gateway_location
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.gateway.upstream import UpstreamPool
from tasktracker.gateway.watch import event_line, summarize
from tasktracker.servicekit.settings import ServiceSettings


class Outlet:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.overflowed = False

    def offer(self, frame: str) -> None:
        self.frames.append(frame)

    def overflow(self) -> None:
        self.overflowed = True


def test_subscription_buffers_until_live_and_drops_what_replay_sent():
    outlet = Outlet()
    sub = Subscription(outlet, ClientTopic(1, None), "s", buffer_limit=10)
    for seq in (4, 5, 6):  # live events that arrive while the replay (up to 5) runs
        sub.deliver(seq, f"e{seq}")
    assert outlet.frames == []
    outlet.frames += ["e3", "e4", "e5"]  # what the replay sent
    sub.go_live(after=5)
    assert outlet.frames == ["e3", "e4", "e5", "e6"]
    sub.deliver(6, "e6")  # a repeat is dropped
    sub.deliver(7, "e7")
    assert outlet.frames[-2:] == ["e6", "e7"]


def test_subscription_buffer_overflow_is_a_slow_consumer():
    outlet = Outlet()
    sub = Subscription(outlet, ClientTopic(1, None), "s", buffer_limit=2)
    for seq in (1, 2, 3):
        sub.deliver(seq, "x")
    assert outlet.overflowed


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.SPACES.c1.1.1187.42.1732000000000000000.3",
        "$JS.ACK._.ACCHASH.SPACES.c1.1.1187.42.1732000000000000000.3",
        "$JS.ACK.hub.ACCHASH.SPACES.c1.1.1187.42.1732000000000000000.3.r4nd",
    ],
)
def test_stream_sequence_agrees_with_nats_metadata(reply):
    msg = Msg(_client=None, subject="space.1.messages.message.updated", reply=reply)  # type: ignore[arg-type]
    assert stream_sequence(msg) == msg.metadata.sequence.stream == 1187


@pytest.mark.parametrize(
    "reply", ["", "_INBOX.x", "$JS.ACK.SPACES.c1.1.1187", "$JS.API.a.b.c.d.e.f.g"]
)
def test_stream_sequence_refuses_what_is_no_jetstream_message(reply):
    with pytest.raises(NotJSMessageError):
        stream_sequence(Msg(_client=None, subject="s", reply=reply))  # type: ignore[arg-type]


def test_is_recoverable():
    assert is_recoverable(0, StreamBounds(first_seq=1, last_seq=0))  # empty stream
    assert is_recoverable(0, StreamBounds(first_seq=1, last_seq=10))
    assert is_recoverable(4, StreamBounds(first_seq=5, last_seq=10))  # 5.. all kept
    assert is_recoverable(10, StreamBounds(first_seq=5, last_seq=10))
    assert is_recoverable(10, StreamBounds(first_seq=11, last_seq=10))  # purged, none missed
    assert not is_recoverable(3, StreamBounds(first_seq=5, last_seq=10))  # 4 is gone
    assert not is_recoverable(11, StreamBounds(first_seq=1, last_seq=10))  # stream recreated


def test_upstream_request_headers():
    headers = upstream_request_headers(
        [
            (b"Host", b"gw.example"),
            (b"Authorization", b"Bearer t"),
            (b"X-Actor", b"mallory"),
            (b"x-actor-roles", b"admin"),
            (b"X-ACTOR-ID", b"1"),
            (b"X-Actor-Token", b"forged"),
            (b"X-Request-Id", b"mine"),
            (b"Connection", b"keep-alive, X-Custom"),
            (b"X-Custom", b"hop"),
            (b"Keep-Alive", b"5"),
            (b"Content-Type", b"application/json"),
            (b"X-Telegram-Bot-Api-Secret-Token", b"s"),
        ],
        actor_token="signed",
        request_id="rid",
        client_host="10.0.0.1",
        scheme="https",
    )
    assert headers == [
        (b"content-type", b"application/json"),
        (b"x-telegram-bot-api-secret-token", b"s"),
        (b"x-request-id", b"rid"),
        (b"x-actor-token", b"signed"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-host", b"gw.example"),
        (b"x-forwarded-proto", b"https"),
    ]


def test_upstream_request_headers_without_actor():
    headers = dict(
        upstream_request_headers(
            [(b"X-Actor", b"mallory"), (b"X-Actor-Token", b"forged")],
            actor_token=None,
            request_id="r",
            client_host=None,
            scheme="http",
        )
    )
    assert b"x-actor" not in headers and b"x-actor-token" not in headers


def test_client_response_headers():
    headers = client_response_headers(
        [
            (b"Content-Type", b"application/json"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Server", b"uvicorn"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
        ],
        "rid",
    )
    assert headers == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"x-request-id", b"rid"),
    ]


def test_client_response_headers_rewrite_an_upstream_location():
    headers = client_response_headers(
        [(b"Location", b"http://127.0.0.1:8001/api/projects/1/messages?x=1")],
        "rid",
        upstreams=["http://127.0.0.1:8001"],
    )
    assert headers[0] == (b"location", b"/api/projects/1/messages?x=1")


def test_gateway_location():
    ups = RouteTable({"/api/projects": "http://127.0.0.1:8001/", "/api/x": "https://svc/base"})
    assert ups.upstreams == {"http://127.0.0.1:8001", "https://svc/base"}
    for internal, public in [
        ("http://127.0.0.1:8001/api/projects/1/messages", "/api/projects/1/messages"),
        ("HTTP://127.0.0.1:8001/api/a?b=1#c", "/api/a?b=1#c"),
        ("//127.0.0.1:8001/api/a", "/api/a"),  # scheme-relative
        ("https://127.0.0.1:8001/api/a", "/api/a"),  # as told by `X-Forwarded-Proto: https`
        ("http://127.0.0.1:8001", "/"),
        ("https://SVC:443/base/api/x/1", "/api/x/1"),  # default port, host case, base path
        ("https://svc/base", "/"),
        ("http://svc/base/", "/"),  # `Host: svc`, as `X-Forwarded-Proto: http` tells it
    ]:
        assert gateway_location(internal, ups.upstreams) == public, internal
    for unchanged in [
        "/api/projects/1/messages",  # already a gateway path
        "https://docs.example.org/runs",  # somewhere else
        "http://127.0.0.1:8002/api/a",  # another port
        "http://127.0.0.1/api/a",  # another port (the default)
        "http://svc:80/base/api",  # another port
        "https://svc/basement",  # not under the base path
        "http://127.0.0.1:notaport/x",
        "",
    ]:
        assert gateway_location(unchanged, ups.upstreams) == unchanged, unchanged


def test_summaries():
    message = {
        "type": "message.updated",
        "topic": "messages",
        "project_id": 1,
        "data": {"message": {"author": {"display_name": "Alice"}, "text": "ship it\nfriday"}},
    }
    assert summarize(message) == "Alice: ship it friday"
    run = {"data": {"run_id": "r1", "status": "running", "other": [1, 2]}}
    assert summarize(run) == "status=running run_id=r1"
    assert summarize({"data": {"chat_id": 5, "released_parked": 0}}) == (
        "chat_id=5 released_parked=0"
    )
    assert summarize({"data": {"x": "y" * 500}}, limit=20).endswith("…")
    line = event_line(EventFrame(topic="space:1:messages", seq=42, event=message))
    assert line.split() == ["42", "1:messages", "message.updated", "Alice:", "ship", "it", "friday"]


def test_metrics_parse():
    assert parse("# HELP a x\n# TYPE a gauge\na 3\nb_total 4\n") == {"a": 3.0, "b_total": 4.0}


def test_tokens_in_query_strings_are_not_logged():
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/ws?token=eyJhbGciOi.abc.def&x=1"),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == (
        '127.0.0.1:5000 - "WebSocket /ws?token=[redacted]&x=1" [accepted]'
    )


async def test_the_pool_closes_idle_upstream_connections_before_the_services_do():
    settings = GatewaySettings(jwt_secret="x" * 40)
    pool = UpstreamPool.from_settings(settings)
    keepalive = pool.keepalive
    await pool.close()
    assert keepalive == settings.upstream_keepalive_seconds
    assert keepalive < ServiceSettings().keep_alive_seconds
