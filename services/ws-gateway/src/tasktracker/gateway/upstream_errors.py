"""What forwarding to a service can fail with (the proxy answers each: `Proxy.failure`)."""

from __future__ import annotations


class UpstreamUnavailable(Exception):
    """Nothing answered: connection refused, or no connection within the connect timeout."""


class UpstreamTimeout(Exception):
    """The upstream accepted the request but did not answer in time."""


class UpstreamFailed(Exception):
    """The connection broke or the upstream answered something that is not HTTP."""


class StaleConnection(UpstreamFailed):
    """A reused connection ended before any byte of the answer: the service most likely
    closed it while it was idle, and the request may not have reached it."""
