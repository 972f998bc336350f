"""FastStream subscribers on the `space.>` stream: durable pull consumers, never declaring.

The stream is declared once by `stream.ensure_space_stream` (see DESIGN.md §2: a subscriber
that declares it would create it with only its own subject).
"""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker, NatsCredentials, NatsUserPassword, PullSub

from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.servicekit.settings import NatsSettings


def make_event_broker(settings: NatsSettings, name: str) -> NatsBroker:
    return NatsBroker(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        logger=None,  # services log through their own handlers
        security=_security(settings),
    )


def _security(settings: NatsSettings) -> NatsCredentials | NatsUserPassword | None:
    """The settings' NATS credentials in FastStream's form (its broker takes no user or
    password argument)."""
    if settings.nats_creds_file is not None:
        return NatsCredentials(str(settings.nats_creds_file))
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password)
    return None


def subscribe_topic(
    broker: NatsBroker,
    settings: NatsSettings,
    *,
    topic: Topic,
    durable: str,
    event_type: str | None = None,
    **kwargs: Any,
):
    """A durable pull subscriber to one topic of every space (optionally one event type)."""
    subject = space_filter(None, topic)
    if event_type is not None:
        subject = subject.removesuffix(">") + event_type
    return broker.subscriber(
        subject,
        stream=JStream(settings.stream_name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=50, timeout=1.0),
        **kwargs,
    )
