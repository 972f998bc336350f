"""One-time chat binding codes: made, recognised in a message, and hashed. Pure.

A project admin proves they can write in a chat by posting a code there; the code is the
only capability, so it is random (`secrets`), short-lived, used once and stored only as a
hash. Codes use Crockford's base32 alphabet (no I, L, O, U), so they survive being read
aloud or retyped.
"""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_HALF = 4  # two groups of four: 40 bits, e.g. "K7QM-2XPA"

_CHAR = f"[{ALPHABET}]"
# `/bind CODE` or `/bind@our_bot CODE` (a command, seen by bots with privacy mode on), or a
# message that is exactly the code as issued (with its dash).
_COMMAND = re.compile(rf"/bind(?:@\w+)?\s+({_CHAR}{{{_HALF}}}-?{_CHAR}{{{_HALF}}})", re.I)
_PLAIN = re.compile(rf"({_CHAR}{{{_HALF}}}-{_CHAR}{{{_HALF}}})", re.I)


def new_code() -> str:
    halves = ("".join(secrets.choice(ALPHABET) for _ in range(_HALF)) for _ in range(2))
    return "-".join(halves)


def code_in(text: str) -> str | None:
    """The code a message posts, normalised (upper case, no dash), or None."""
    text = text.strip()
    match = _COMMAND.fullmatch(text) or _PLAIN.fullmatch(text)
    if match is None:
        return None
    return match.group(1).upper().replace("-", "")


def digest(code: str) -> str:
    """What is stored: the hash of the normalised code."""
    normalised = code.strip().upper().replace("-", "")
    return hashlib.sha256(normalised.encode()).hexdigest()
