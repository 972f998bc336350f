"""Which upstream serves a path: a prefix table, resolved by longest match. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

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
            parsed.append(Route(split_path(prefix), upstream.rstrip("/")))
        # Longer prefixes first; among equal lengths, more literal segments first.
        self.routes = sorted(
            parsed,
            key=lambda r: (len(r.prefix), sum(s != PROJECT_ID for s in r.prefix)),
            reverse=True,
        )

    def resolve(self, segments: tuple[str, ...]) -> str | None:
        for route in self.routes:
            if route.matches(segments):
                return route.upstream
        return None


def is_public(segments: tuple[str, ...], public_prefixes: tuple[tuple[str, ...], ...]) -> bool:
    """True for paths that pass without a JWT (the Telegram webhook checks its own secret)."""
    return any(segments[: len(prefix)] == prefix for prefix in public_prefixes)
