"""Secrets of a local stack, generated once and kept under `.data/` between runs."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

# Read by `tasktracker-gateway token` when TT_GATEWAY_JWT_SECRET is not set (its --env-file
# default): a dotenv file of the gateway's own settings, so the gateway needs no devstack.
GATEWAY_ENV_FILE = "gateway.env"


def local_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name in ("webhook_secret", "jwt_secret", "internal_actor_key"):
        stored.setdefault(name, secrets.token_urlsafe(32))
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(stored, indent=2))
    return stored


def write_gateway_env(data_dir: Path, jwt_secret: str) -> Path:
    path = data_dir / GATEWAY_ENV_FILE
    _write_private(
        path,
        "# written by `make run`: the secret its gateway verifies tokens with\n"
        f"TT_GATEWAY_JWT_SECRET={jwt_secret}\n",
    )
    return path


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # before the secret is in it
    path.write_text(text)
