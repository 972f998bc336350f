"""`tasktracker-gateway token` in a checkout where `make run` ran: it signs with the secret
that run keeps (`.data/gateway.env`), unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tasktracker.contracts.enums import Role
from tasktracker.devstack.secrets_store import local_secrets, write_gateway_env
from tasktracker.gateway.auth import TokenVerifier

CLI = str(Path(sys.executable).with_name("tasktracker-gateway"))
OTHER_SECRET = "x" * 40


def token(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TT_GATEWAY_")}
    return subprocess.run(
        [CLI, "token", "--sub", "alice", "--project", "1=pm", "--ttl", "1h"],
        cwd=folder,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def after_make_run(folder: Path) -> str:
    """What `make run` leaves in a checkout."""
    data_dir = folder / ".data"
    secret = local_secrets(data_dir)["jwt_secret"]
    write_gateway_env(data_dir, secret)
    return secret


def test_token_signs_with_the_secret_make_run_keeps(tmp_path):
    secret = after_make_run(tmp_path)
    result = token(tmp_path)
    assert result.returncode == 0, result.stderr
    claims = TokenVerifier("HS256", secret).verify(result.stdout.strip())
    assert (claims.sub, claims.projects) == ("alice", {1: Role.pm})


def test_the_environment_wins_over_the_kept_secret(tmp_path):
    after_make_run(tmp_path)
    result = token(tmp_path, TT_GATEWAY_JWT_SECRET=OTHER_SECRET)
    assert result.returncode == 0, result.stderr
    assert TokenVerifier("HS256", OTHER_SECRET).verify(result.stdout.strip()).sub == "alice"


def test_without_a_secret_it_says_where_one_comes_from(tmp_path):
    result = token(tmp_path)
    assert result.returncode == 1
    assert "TT_GATEWAY_JWT_SECRET" in result.stderr
    assert ".data/gateway.env" in result.stderr
