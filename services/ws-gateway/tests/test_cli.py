"""The `token` and `watch` commands, run as real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasktracker.contracts.enums import Role
from tasktracker.gateway.auth import TokenVerifier
from tasktracker.gateway.cli import main

from .helpers import SECRET, GatewayProcess, chat_bound, process_env, publish, run_started

CLI = str(Path(sys.executable).with_name("tasktracker-gateway"))


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        env={**os.environ, "TT_GATEWAY_JWT_SECRET": SECRET, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_command():
    result = run_cli(
        "token", "--sub", "alice", "--project", "1=pm", "--project", "2=viewer", "--ttl", "8h"
    )
    assert result.returncode == 0, result.stderr
    claims = TokenVerifier("HS256", SECRET).verify(result.stdout.strip())
    assert claims.sub == "alice"
    assert claims.projects == {1: Role.pm, 2: Role.viewer}
    assert 8 * 3600 - 60 < claims.exp - claims.iat <= 8 * 3600


def test_token_command_refuses_bad_input(monkeypatch, capsys):
    monkeypatch.setenv("TT_GATEWAY_JWT_SECRET", SECRET)
    for args in (["--project", "1=boss"], ["--ttl", "soon"], []):
        with pytest.raises(SystemExit) as exit_:
            main(["token", *args] if args else ["token"])
        assert exit_.value.code == 2
    assert "1=boss" in capsys.readouterr().err
    monkeypatch.setenv("TT_GATEWAY_JWT_SECRET", "")
    with pytest.raises(SystemExit, match="TT_GATEWAY_JWT_SECRET"):
        main(["token", "--sub", "a"])


async def test_watch_prints_one_line_per_event(gateway, js, project_ids, nats_url):
    pid = next(project_ids)
    before = await publish(js, chat_bound(pid, 7))
    first = await publish(js, run_started(pid, 3))
    host, port = gateway.http.removeprefix("http://").split(":")
    process = await asyncio.create_subprocess_exec(
        CLI,
        "watch",
        "--project",
        str(pid),
        "--topic",
        "analysis_runs",
        "--since",
        str(before),
        "--max-events",
        "2",
        env={
            **os.environ,
            **process_env(nats_url),
            "TT_GATEWAY_HOST": host,
            "TT_GATEWAY_PORT": port,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # The first line comes from the replay; the second is live once the watcher is in.
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    second = await publish(js, run_started(pid, 4))
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    lines = [line.decode().rstrip("\n"), *out.decode().splitlines()]
    assert [row.split()[:3] for row in lines] == [
        [str(first), f"{pid}:analysis_runs", "run_started"],
        [str(second), f"{pid}:analysis_runs", "run_started"],
    ]
    assert "run_id=" in lines[0]
    assert f"subscribed space:{pid}:analysis_runs" in err.decode()


async def test_watch_resumes_across_a_gateway_restart(js, project_ids, nats_url, tmp_path):
    pid = next(project_ids)
    gateway = GatewayProcess(process_env(nats_url), log=tmp_path / "gateway.log")
    await gateway.start()
    process = await asyncio.create_subprocess_exec(
        CLI,
        "watch",
        "--project",
        str(pid),
        "--max-events",
        "3",
        env={**os.environ, **process_env(nats_url), "TT_GATEWAY_PORT": str(gateway.port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        while "subscribed" not in (await process.stderr.readline()).decode():
            pass
        seqs = [await publish(js, chat_bound(pid, 1))]
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        await gateway.stop()
        seqs.append(await publish(js, chat_bound(pid, 2)))  # published while it is down
        await gateway.start()
        seqs.append(await publish(js, chat_bound(pid, 3)))
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await gateway.stop()
    assert process.returncode == 0, err.decode()
    printed = [int(line.split()[0]) for line in [first, *out.splitlines()]]
    assert printed == seqs
    assert f"resuming after seq {seqs[0]}" in err.decode()
