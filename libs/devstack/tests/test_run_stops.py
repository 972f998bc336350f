"""`make run` stops everything it started, whatever signal stops it, and runs once per folder.

The real runner (`tasktracker-dev run`) runs as a process in a folder of its own, with its own
embedded NATS and PostgreSQL under `.data/`; the test then signals the runner alone, as
`timeout`, a supervisor or a closing terminal would, and looks for any process left behind.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tasktracker.devstack.instance import ports_in_use
from tasktracker.devstack.stack import PORTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[3]
RUNNER = str(Path(sys.executable).with_name("tasktracker-dev"))
BANNER = b"Task Tracker is running."
STARTED = b"started (pid="


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    if ports_in_use("127.0.0.1", PORTS):
        pytest.skip("ports 8000-8004 are taken (a `make run` on this machine?)")
    shutil.copytree(REPO / "deploy" / "local", tmp_path / "deploy" / "local")
    yield tmp_path
    for process in leftovers(tmp_path, []):  # never leave a failed test's processes behind
        process.kill()


def start(folder: Path, output: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("TT_NATS_URL", "TT_DATABASE_URL")}
    return subprocess.Popen(
        [RUNNER, "run"],
        cwd=folder,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        start_new_session=True,  # the signals of this test reach the runner alone
    )


def read_until(fd: int, marker: bytes, runner: subprocess.Popen[bytes]) -> bytes:
    seen = b""
    while marker not in seen:
        if runner.poll() is not None:
            pytest.fail(f"the runner exited {runner.returncode}:\n{seen.decode(errors='replace')}")
        if select.select([fd], [], [], 1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # EIO: nothing holds the terminal any more, the runner is ending
                runner.wait(timeout=30)
    return seen


def leftovers(folder: Path, family: list[psutil.Process]) -> list[psutil.Process]:
    """Processes still alive among `family`, and any that runs in the folder or names it on
    its command line (the embedded PostgreSQL is a daemon, no child of the runner; NATS keeps
    its store there; honcho runs the services in the folder)."""
    found = {p.pid: p for p in family if _alive(p)}
    for process in psutil.process_iter(["cmdline", "cwd"]):
        mine = str(folder) in " ".join(process.info["cmdline"] or ()) or (
            process.info["cwd"] or ""
        ).startswith(str(folder))
        if mine and _alive(process):
            found[process.pid] = process
    return list(found.values())


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_and_collect(runner: subprocess.Popen[bytes], signum: int) -> list[psutil.Process]:
    family = psutil.Process(runner.pid).children(recursive=True)
    assert family, "the runner has started nothing yet"
    runner.send_signal(signum)
    runner.wait(90)
    psutil.wait_procs(family, timeout=10)
    return family


def describe(processes: list[psutil.Process]) -> list[str]:
    return [" ".join(p.cmdline()[:3]) for p in processes if _alive(p)]


def test_sigterm_stops_everything_a_second_start_refuses_and_the_log_is_quiet(folder):
    master, slave = pty.openpty()
    runner = start(folder, slave)
    os.close(slave)
    try:
        shown = read_until(master, BANNER, runner)
        # what a newcomer reads: services starting and the banner, no set-up chatter
        for noise in (b"alembic", b"/readyz", b"Warning"):
            assert noise not in shown
        second = subprocess.run(
            [RUNNER, "run"], cwd=folder, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert "already running" in second.stderr
        assert f"pid {runner.pid}" in second.stderr
        assert f"kill {runner.pid}" in second.stderr

        family = stop_and_collect(runner, signal.SIGTERM)
    finally:
        os.close(master)
    assert runner.returncode == 0
    assert describe(leftovers(folder, family)) == []


def test_sighup_of_a_closed_terminal_stops_everything(folder):
    master, slave = pty.openpty()
    runner = start(folder, slave)
    os.close(slave)
    read_until(master, STARTED, runner)  # honcho has started the services, not yet ready
    os.close(master)  # the terminal is gone: every write of the runner now fails
    family = stop_and_collect(runner, signal.SIGHUP)
    assert describe(leftovers(folder, family)) == []
