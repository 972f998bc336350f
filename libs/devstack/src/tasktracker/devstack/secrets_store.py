"""Secrets of a local stack, generated once and kept under `.data/` between runs."""

from __future__ import annotations

import json
import secrets
from pathlib import Path


def local_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name in ("webhook_secret", "jwt_secret"):
        stored.setdefault(name, secrets.token_urlsafe(32))
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    path.chmod(0o600)
    return stored
