"""`tasktracker-gateway watch`: a terminal client of the WebSocket protocol.

It connects like a browser would, prints one line per event, and on any disconnect other than
4401 reconnects with `since` = the last sequence it printed — so it also shows, by example,
how a client resumes without a gap.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tasktracker.contracts.ws import (
    CloseCode,
    ErrorFrame,
    EventFrame,
    SubscribedFrame,
    parse_server_frame,
)

SUMMARY_KEYS = (
    "status",
    "run_id",
    "proposal_id",
    "extraction_id",
    "topic_id",
    "atom_id",
    "title",
    "name",
    "processed",
    "total",
    "count",
    "error",
    "reason",
)


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(envelope: Mapping[str, Any], limit: int = 90) -> str:
    """A short human line for an event's payload."""
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        return ""
    message = data.get("message")
    if isinstance(message, Mapping):
        author = message.get("author") or {}
        who = author.get("display_name") or author.get("username") or "?"
        return _short(f"{who}: {message.get('text', '')}", limit)
    picked = [f"{key}={_short(data[key], 40)}" for key in SUMMARY_KEYS if key in data]
    if not picked:
        picked = [
            f"{key}={_short(value, 30)}"
            for key, value in data.items()
            if isinstance(value, str | int | float | bool) or value is None
        ][:4]
    if not picked:
        picked = [f"{key}=…" for key in list(data)[:4]]
    return _short(" ".join(picked), limit)


def event_line(frame: EventFrame) -> str:
    envelope = frame.event
    topic = f"{envelope.get('project_id')}:{envelope.get('topic')}"
    return f"{frame.seq:>8}  {topic:<24}  {envelope.get('type', '?'):<22}  {summarize(envelope)}"


async def watch(
    url: str,
    token: str,
    topic: str,
    since: int | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    max_events: int | None = None,
    retry_seconds: float = 0.5,
) -> int:
    """Print events until interrupted (or `max_events`); returns an exit status."""
    last_seq = since
    printed = 0
    delay = retry_seconds
    while True:
        try:
            async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                request = {"type": "subscribe", "id": "watch", "topic": topic}
                if last_seq is not None:
                    request["since"] = last_seq
                await ws.send(json.dumps(request))
                async for raw in ws:
                    frame = parse_server_frame(raw)
                    if isinstance(frame, EventFrame):
                        print(event_line(frame), file=out, flush=True)
                        last_seq = frame.seq
                        printed += 1
                        if max_events is not None and printed >= max_events:
                            return 0
                    elif isinstance(frame, SubscribedFrame):
                        delay = retry_seconds
                        note = (
                            ""
                            if frame.recovered or last_seq is None
                            else (" — history after that is gone; reload state over REST")
                        )
                        print(
                            f"# subscribed {frame.topic} at seq {frame.position}, "
                            f"recovered={frame.recovered}{note}",
                            file=err,
                            flush=True,
                        )
                    elif isinstance(frame, ErrorFrame):
                        print(f"# error {frame.code}: {frame.message}", file=err, flush=True)
                        return 2
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            if code == CloseCode.UNAUTHORIZED:
                print("# unauthorized: token missing, invalid or expired", file=err, flush=True)
                return 1
            print(f"# disconnected ({code}); resuming after seq {last_seq}", file=err, flush=True)
        except (OSError, InvalidHandshake) as exc:
            if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
                print(f"# refused: {exc}", file=err, flush=True)
                return 1
            print(f"# cannot connect to {url}: {exc}", file=err, flush=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
