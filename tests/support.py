"""Test support: real server processes (kvserver and redis-server) on free ports, and raw sockets.

Nothing here mocks a server: every helper starts a real process and talks TCP to it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """The path of an external tool; missing means a skip locally and a failure in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install redis-server redis-tools)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def link_ioredis(directory: Path) -> None:
    """Make ``import "ioredis"`` work for node scripts in ``directory``: node_modules links to the
    install under ``$IOREDIS_PREFIX`` (``npm install --prefix <dir> ioredis@5.11.1``, as .ci/run
    does); missing: a skip locally, a failure in CI."""
    require_tool("node")
    modules = Path(os.environ.get("IOREDIS_PREFIX", "")) / "node_modules"
    if not (modules / "ioredis").is_dir():
        message = "ioredis is not installed: npm install --prefix <dir> ioredis@5.11.1; IOREDIS_PREFIX=<dir>"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    (directory / "node_modules").symlink_to(modules.resolve())


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def mount_tmpfs(point: Path, size: str) -> None:
    """Mount a small tmpfs at ``point`` (root needed: a skip locally, a failure in CI)."""
    point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
    if result.returncode != 0:
        message = f"cannot mount a tmpfs (root needed): {result.stderr.decode().strip()}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def fill_disk(directory: Path, leave: int = 0) -> Path:
    """Take the free space of ``directory``'s file system, all but ``leave`` bytes; returns the filler."""
    filler = directory / "filler"
    space = os.statvfs(directory)
    with filler.open("wb") as file:
        os.posix_fallocate(file.fileno(), 0, max(1, space.f_bavail * space.f_frsize - leave))
    return filler


class ServerProcess:
    """A kvserver (or redis-server) child process with its own data directory."""

    def __init__(self, argv: list[str], log_path: Path, port_pattern: str, cwd: Path | None = None) -> None:
        self.argv = argv
        self.cwd = cwd
        self.log_path = log_path
        self.port_pattern = port_pattern
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.preexec_fn: Callable[[], None] | None = None  # run in the child before exec (limits)

    def start(self, timeout: float = 20.0) -> ServerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            preexec_fn=self.preexec_fn,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()[offset:]
            if "Ready to accept connections" not in text:
                return False
            match = re.search(self.port_pattern, text)
            if match:
                self.port = int(match.group(1))
            return True

        wait_for(ready, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def process_gone(pid: int) -> bool:
    """No process has this pid any more (a daemon, or a process some tool started, has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kvserver_process(data_dir: Path, *extra: str, config_file: Path | None = None) -> ServerProcess:
    """A kvserver on a port it picks itself (``--port 0``), logging to ``data_dir/server.log``.

    ``config_file`` comes first on the command line, as redis-server wants it; the options follow.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    first = [str(config_file)] if config_file is not None else []
    args = [sys.executable, "-m", "kvserver", *first, "--port", "0", "--dir", str(data_dir), *extra]
    if "--port" in extra:
        args = [sys.executable, "-m", "kvserver", *first, "--dir", str(data_dir), *extra]
    return ServerProcess(args, data_dir / "server.log", r"port=(\d+)\.")


def redis_server_process(data_dir: Path, *extra: str) -> ServerProcess:
    binary = require_tool("redis-server")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "no",
        *extra,
    ]
    server = ServerProcess(args, data_dir / "redis.log", r"(?!)")
    server.port = port
    return server


class RawClient:
    """A plain TCP socket for byte-exact protocol tests."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def recv_until_closed(self, limit: int = 1 << 20) -> bytes:
        """Everything until the server closes the connection."""
        data = b""
        while len(data) < limit:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        raise AssertionError("server did not close the connection")

    def request(self, payload: bytes, expected_len: int) -> bytes:
        self.send(payload)
        return self.recv_exactly(expected_len)

    def read_reply(self) -> object:
        from kvserver.reply_parser import NEED_DATA, ReplyParser

        parser = ReplyParser()
        while True:
            value = parser.next()
            if value is not NEED_DATA:
                return value
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            parser.feed(chunk)

    def close(self) -> None:
        self.sock.close()


def load_keys(port: int, count: int, deadline_ms: int, value: bytes = b"v", key_format: bytes = b"k:%d") -> None:
    """Pipeline ``count`` SET key value PXAT deadline commands over one raw socket (fast, no client)."""
    from kvserver.protocol import encode_command

    client = RawClient(port, timeout=300)
    batch = 10_000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        client.send(
            b"".join(
                encode_command(b"SET", key_format % i, value, b"PXAT", deadline_ms) for i in range(start, start + n)
            )
        )
        assert client.recv_exactly(5 * n) == b"+OK\r\n" * n
    client.close()


class Pinger:
    """PINGs from its own connection every few milliseconds in a thread; keeps the worst round trip."""

    def __init__(self, port: int, interval: float = 0.002) -> None:
        import redis

        self.client = redis.Redis(port=port, socket_timeout=30)
        self.client.ping()
        self.interval = interval
        self.worst = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            self.client.ping()
            self.worst = max(self.worst, time.perf_counter() - start)
            self.stop.wait(self.interval)

    def finish(self) -> float:
        """Stop and return the worst round trip in seconds."""
        self.stop.set()
        self.thread.join(30)
        self.client.close()
        return self.worst
