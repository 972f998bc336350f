"""`/metrics` in the Prometheus text format: socket and subscription counts and counters."""

from __future__ import annotations

from tasktracker.gateway.hub import Hub

_METRICS = (
    ("tt_gateway_sockets", "gauge", "Open WebSocket connections.", lambda h: h.stats.sockets),
    (
        "tt_gateway_subscriptions",
        "gauge",
        "Active topic subscriptions.",
        lambda h: h.subscription_count,
    ),
    (
        "tt_gateway_events_total",
        "counter",
        "Events read from the stream.",
        lambda h: h.stats.events,
    ),
    (
        "tt_gateway_deliveries_total",
        "counter",
        "Event frames handed to subscriptions.",
        lambda h: h.stats.deliveries,
    ),
    (
        "tt_gateway_replayed_events_total",
        "counter",
        "Events replayed to resuming subscriptions.",
        lambda h: h.stats.replayed_events,
    ),
    (
        "tt_gateway_invalid_events_total",
        "counter",
        "Events dropped as malformed.",
        lambda h: h.stats.invalid_events,
    ),
    (
        "tt_gateway_slow_consumer_closes_total",
        "counter",
        "Sockets closed with 4429.",
        lambda h: h.stats.slow_consumer_closes,
    ),
    (
        "tt_gateway_send_queue_bytes",
        "gauge",
        "Characters of frames waiting in sockets' send queues.",
        lambda h: h.stats.queued_bytes,
    ),
    (
        "tt_gateway_too_many_sockets_closes_total",
        "counter",
        "Sockets closed with 4409 (per-token or per-address limit).",
        lambda h: h.stats.too_many_sockets_closes,
    ),
    (
        "tt_gateway_unauthorized_closes_total",
        "counter",
        "Sockets closed with 4401.",
        lambda h: h.stats.unauthorized_closes,
    ),
)


def render(hub: Hub) -> str:
    lines: list[str] = []
    for name, kind, help_text, read in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {read(hub)}"]
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, float]:
    """Samples of a rendered page by name (for tests and the bench)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            samples[name] = float(value)
    return samples
