"""Which upstream serves a path (a prefix table, resolved by longest match), and the way back:
an upstream's own URL as a gateway path. Pure functions."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

PROJECT_ID = "{project_id}"


class BadPath(ValueError):
    """A path the gateway refuses to interpret (dot segments, encoded slashes, empty segments)."""


def split_path(raw_path: str) -> tuple[str, ...]:
    """`/api/projects/1/runs` → ("api", "projects", "1", "runs"), each segment percent-decoded.

    Works on the raw (still encoded) path so that an encoded `/` cannot smuggle an extra
    segment past the policy, and refuses `.`/`..` so that no hop can normalise
    `/api/projects/1/../2` into another project. A single trailing slash is allowed.
    """
    if not raw_path.startswith("/"):
        raise BadPath("path must start with '/'")
    raw_segments = raw_path[1:].split("/")
    if len(raw_segments) > 1 and raw_segments[-1] == "":
        raw_segments.pop()
    segments = tuple(unquote(segment) for segment in raw_segments)
    if segments == ("",):
        return ()
    for segment in segments:
        if segment in ("", ".", "..") or "/" in segment or "\\" in segment:
            raise BadPath(f"unsupported path segment {segment!r}")
    return segments


@dataclass(frozen=True)
class Route:
    prefix: tuple[str, ...]
    upstream: str

    @functools.cached_property
    def template(self) -> str:
        """The prefix as configured: `/api/projects/{project_id}/runs`."""
        return "/" + "/".join(self.prefix)

    def matches(self, segments: tuple[str, ...]) -> bool:
        if len(segments) < len(self.prefix):
            return False
        return all(
            want in (PROJECT_ID, got) for want, got in zip(self.prefix, segments, strict=False)
        )


class RouteTable:
    """Maps a request path to an upstream base URL; the most specific prefix wins."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        parsed = []
        for prefix, upstream in routes.items():
            if not upstream.startswith(("http://", "https://")):
                raise ValueError(f"upstream of {prefix!r} must be an http(s) URL: {upstream!r}")
            _split(upstream)  # a malformed port fails here, not on every response
            parsed.append(Route(split_path(prefix), upstream.rstrip("/")))
        # Longer prefixes first; among equal lengths, more literal segments first.
        self.routes = sorted(
            parsed,
            key=lambda r: (len(r.prefix), sum(s != PROJECT_ID for s in r.prefix)),
            reverse=True,
        )
        self.upstreams = frozenset(route.upstream for route in parsed)
        # Matching walks the table (6% of the proxy's CPU per request, py-spy): remember the
        # answer per path. Bounded: ids make paths many, and an evicted one is matched again.
        self.route_of = functools.lru_cache(maxsize=4096)(self._match)

    def resolve(self, segments: tuple[str, ...]) -> str | None:
        route = self.route_of(segments)
        return None if route is None else route.upstream

    def _match(self, segments: tuple[str, ...]) -> Route | None:
        for route in self.routes:
            if route.matches(segments):
                return route
        return None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(url: str) -> SplitResult:
    """`urlsplit`, with the port checked (a malformed one only raises once it is read)."""
    parts = urlsplit(url)
    _ = parts.port
    return parts


def _address(url: SplitResult, scheme: str) -> tuple[str, int | None]:
    """Host and port; a URL without a port has the default one of `scheme`."""
    return (url.hostname or "").lower(), url.port or _DEFAULT_PORTS.get(scheme)


def gateway_location(location: str, upstreams: Iterable[str]) -> str:
    """A `Location` on an upstream's own base URL, as the path the gateway serves it under:
    `http://127.0.0.1:8001/api/projects/1/messages?x=1` → `/api/projects/1/messages?x=1`.

    Upstreams build absolute redirects from the `Host` they were called with (FastAPI's
    trailing-slash redirect does), which is their internal address; the client must neither
    see it nor try to reach it. Paths and other sites pass unchanged.
    """
    try:
        target = _split(location)
    except ValueError:
        return location  # malformed: not an upstream's address
    if not target.netloc:
        return location  # a path: already one on the gateway
    for upstream in upstreams:
        base = urlsplit(upstream)
        base_path = base.path.rstrip("/")
        # Host and port, whatever the scheme: an upstream told `X-Forwarded-Proto: https`
        # names itself `https://` on the port it was called on. Without a port, the URL
        # repeats a `Host` without one: the default port of the scheme it was called with.
        if _address(target, base.scheme) != _address(base, base.scheme):
            continue
        if target.path != base_path and not target.path.startswith(base_path + "/"):
            continue
        path = target.path[len(base_path) :] or "/"
        return urlunsplit(("", "", path, target.query, target.fragment))
    return location


def is_public(segments: tuple[str, ...], public_prefixes: tuple[tuple[str, ...], ...]) -> bool:
    """True for paths that pass without a JWT (the Telegram webhook checks its own secret)."""
    return any(segments[: len(prefix)] == prefix for prefix in public_prefixes)


def is_import_upload(method: str, segments: tuple[str, ...]) -> bool:
    """`POST /api/projects/{pid}/imports`: the one request allowed a larger body."""
    return (
        method == "POST"
        and len(segments) == 4
        and segments[3] == "imports"
        and segments[:2] == ("api", "projects")
    )
