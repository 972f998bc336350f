"""How many sockets one token and one client address may hold at once.

Each socket costs memory (its send queue, buffers in uvicorn and the kernel) and a share of
every fan-out, so one leaked or hostile token, or one host, must not open sockets without end.
Counts are per process, like everything else the gateway holds.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SocketAdmission:
    per_token: int
    per_client: int
    _tokens: Counter[bytes] = field(default_factory=Counter)
    _clients: Counter[str] = field(default_factory=Counter)

    def admit(self, token: str, client: str | None) -> tuple[bytes, str] | None:
        """A ticket to `release` when the socket ends, or None if either limit is reached."""
        # A digest, so that the gateway does not keep bearer tokens after their sockets end.
        key = hashlib.blake2b(token.encode(), digest_size=16).digest()
        address = client or "?"
        if self._tokens[key] >= self.per_token or self._clients[address] >= self.per_client:
            return None
        self._tokens[key] += 1
        self._clients[address] += 1
        return key, address

    def release(self, ticket: tuple[bytes, str]) -> None:
        key, address = ticket
        for counter, name in ((self._tokens, key), (self._clients, address)):
            counter[name] -= 1
            if counter[name] <= 0:
                del counter[name]
