"""One `make run` per folder, and none on ports another program holds.

The lock is an `flock` on `.data/run.lock`: the kernel releases it when the holder exits, even
when it is killed, so a stale lock never blocks a start. The holder writes who it is into the
file, so that a second start can say where the running one is and how to stop it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

LOCK_FILE = "run.lock"


class AlreadyRunning(Exception):
    def __init__(self, root: Path, holder: dict[str, object]) -> None:
        pid = holder.get("pid", "?")
        since = holder.get("started", "?")
        gateway = holder.get("gateway")
        where = f"; its gateway is {gateway}" if gateway else ""
        super().__init__(
            f"Task Tracker is already running from {root} (pid {pid}, started {since}{where}). "
            f"Stop it first: Ctrl-C in its terminal, or `kill {pid}`."
        )
        self.pid = pid


class PortsInUse(Exception):
    def __init__(self, taken: Mapping[str, int]) -> None:
        listed = ", ".join(f"{port} ({service})" for service, port in taken.items())
        super().__init__(
            f"port(s) {listed} already in use by another program (another Task Tracker "
            "started from a different folder?); stop it, or find it with `lsof -i :PORT`."
        )


@contextlib.contextmanager
def single_instance(root: Path, data_dir: Path) -> Iterator[RunLock]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AlreadyRunning(root, _parse(handle.read())) from None
        lock = RunLock(handle)
        lock.record(pid=os.getpid(), started=datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
        try:
            yield lock
        finally:
            handle.truncate(0)


class RunLock:
    def __init__(self, handle) -> None:
        self._handle = handle
        self._facts: dict[str, object] = {}

    def record(self, **facts: object) -> None:
        self._facts.update(facts)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(self._facts))
        self._handle.flush()


def _parse(text: str) -> dict[str, object]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def ports_in_use(host: str, ports: Mapping[str, int]) -> dict[str, int]:
    """The ports of `ports` something already listens on (bound as uvicorn binds them)."""
    taken: dict[str, int] = {}
    for service, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                taken[service] = port
    return taken
