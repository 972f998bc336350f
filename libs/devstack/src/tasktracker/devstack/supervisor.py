"""The services of `make run` under honcho, stopped completely whatever stops `make run`.

honcho runs in a session of its own: the terminal's Ctrl-C, `timeout`'s group signal and a
closed terminal's SIGHUP reach only the runner, which then stops honcho once, in order. Its
output comes through the runner rather than straight to the terminal: a closed terminal makes
every write fail, and honcho, failing to print "SIGTERM received", would die before stopping
its children. The runner drops the lines only it causes (its readiness probes, honcho's
shutdown chatter) and keeps each service's process group — honcho starts each in a session of
its own — so that anything honcho leaves behind is killed too. honcho can also be stopped
while it is still starting a service, before it prints that service's pid: every process it
starts carries this run's marker in its environment, and whatever still carries it is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import psutil

RUN_MARKER = "TT_DEV_RUN_MARKER"
STARTED = re.compile(r"\| (?P<name>\S+) started \(pid=(?P<pid>\d+)\)")
# Lines that exist only because the runner probes readiness or stops honcho.
NOISE = (
    re.compile(r'"GET /(readyz|healthz) HTTP/1\.1" 200'),
    re.compile(r"system\s+\| (SIGTERM|SIGINT) received"),
    re.compile(r"system\s+\| sending SIGTERM to "),
    re.compile(r"system\s+\| \S+ stopped \(rc=-15\)"),
)


class Console:
    """The runner's output. A closed terminal turns writes into no-ops instead of errors."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                self._stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as we do
                sys.stdout = sys.stderr = self._stream


def is_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in NOISE)


class Supervisor:
    def __init__(self, procfile: Path, root: Path, env: Mapping[str, str], console: Console):
        self._argv = [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(root)]
        self._marker = secrets.token_hex(8)
        self._env = {**env, RUN_MARKER: self._marker}
        self._console = console
        self._process: subprocess.Popen[str] | None = None
        self._relay: threading.Thread | None = None
        self.process_groups: dict[str, int] = {}

    def start(self) -> None:
        self._process = subprocess.Popen(
            [*self._argv, "--no-colour"],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._relay = threading.Thread(target=self._relay_output, name="honcho-output", daemon=True)
        self._relay.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM honcho (it stops its children, killing stragglers after 5 s); then kill
        whatever is left of each service's process group."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._relay is not None:
            self._relay.join(5)  # every "started (pid=…)" line read before the last resort
        for group in (process.pid, *self.process_groups.values()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self._kill_marked()

    def _kill_marked(self) -> None:
        """Kill every process started for this run that is still alive (see the docstring)."""
        for candidate in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if candidate.environ().get(RUN_MARKER) == self._marker:
                    candidate.kill()

    def _relay_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.rstrip("\n")
            started = STARTED.search(line)
            if started:
                self.process_groups[started["name"]] = int(started["pid"])
            if not is_noise(line):
                self._console.say(line)
