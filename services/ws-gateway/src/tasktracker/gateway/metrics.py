"""`/metrics`: the process's `prometheus_client` registry (HTTP requests, proxied requests by
route prefix) and the hub's socket figures, read from `Hub.stats` at scrape time by a
collector, so the WebSocket paths keep their plain integer counters."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from tasktracker.gateway.hub import Hub

# (name, kind, help, read): counters are named without `_total`, which the exposition adds.
_HUB_METRICS = (
    ("tt_gateway_sockets", "gauge", "Open WebSocket connections.", lambda h: h.stats.sockets),
    (
        "tt_gateway_subscriptions",
        "gauge",
        "Active topic subscriptions.",
        lambda h: h.subscription_count,
    ),
    ("tt_gateway_events", "counter", "Events read from the stream.", lambda h: h.stats.events),
    (
        "tt_gateway_deliveries",
        "counter",
        "Event frames handed to subscriptions.",
        lambda h: h.stats.deliveries,
    ),
    (
        "tt_gateway_replays",
        "counter",
        "Subscriptions resumed with `since` that read the stream.",
        lambda h: h.stats.replays,
    ),
    (
        "tt_gateway_replayed_events",
        "counter",
        "Events replayed to resuming subscriptions.",
        lambda h: h.stats.replayed_events,
    ),
    (
        "tt_gateway_invalid_events",
        "counter",
        "Events dropped as malformed.",
        lambda h: h.stats.invalid_events,
    ),
    (
        "tt_gateway_slow_consumer_closes",
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
        "tt_gateway_too_many_sockets_closes",
        "counter",
        "Sockets closed with 4409 (per-token or per-address limit).",
        lambda h: h.stats.too_many_sockets_closes,
    ),
    (
        "tt_gateway_unauthorized_closes",
        "counter",
        "Sockets closed with 4401.",
        lambda h: h.stats.unauthorized_closes,
    ),
)


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        for name, kind, help_text, read in _HUB_METRICS:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=read(self.hub))


def hub_sample_names() -> set[str]:
    """The names of the hub's samples (for checks of dashboards and alert rules)."""
    return {name + ("_total" if kind == "counter" else "") for name, kind, _, _ in _HUB_METRICS}


def hub_registry(hub: Hub) -> CollectorRegistry:
    """A registry of this app's hub alone (tests run several gateways in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    return registry


def parse(text: str) -> dict[str, float]:
    """Unlabelled samples of a page by name (for tests and the bench); `_created` left out."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels and not sample.name.endswith("_created")
    }
