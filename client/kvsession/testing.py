"""A real kvserver for an application's own tests: start one on a free port with a temporary data
directory, ``kill -9`` it, restart it on the same port and data, stall it (SIGSTOP).

    from kvsession.testing import running_kvserver

    with running_kvserver() as server:
        store = SessionStore.from_url(server.url)
        ...
        server.kill9()
        server.start()          # same port, same data: the sessions are still there

or, with pytest, in a conftest.py: ``from kvsession.testing import kvserver  # noqa: F401`` and a
test taking a ``kvserver`` argument. The server is ``sys.executable -m kvserver``, so kvserver
must be installed in the environment running the tests.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["KvServer", "kvserver", "running_kvserver"]


def free_port() -> int:
    """A free port below the kernel's ephemeral range (Linux), so that a server restarted on it
    (``kill9()``, then ``start()``) gets it back: while it is down, no socket bound to port 0 (a
    parallel test's server) and no outgoing connection can be given it. Elsewhere, a port the
    kernel picks."""
    low = ephemeral_range_start()
    for _ in range(100 if low > 2048 else 0):
        port = random.randrange(max(1024, low - 16384), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: another
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ephemeral_range_start() -> int:
    """The first port of the kernel's ephemeral range (0: unknown)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class KvServer:
    """One kvserver process on 127.0.0.1 with its own data directory, restartable in place.

    The log is durable by default (``appendfsync always``): what a reply acknowledged survives
    ``kill9()``. ``args`` are extra kvserver options (``["--requirepass", "s3cret"]``)."""

    def __init__(self, data_dir: str | os.PathLike[str], *, port: int | None = None, args: Sequence[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kvserver.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> Self:
        """Start (or restart) the server and wait until it answers PING."""
        if self.alive():
            raise RuntimeError("the server is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "kvserver", "--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--dir", str(self.data_dir), *self.args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"kvserver exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                self.kill9()
                raise RuntimeError(f"kvserver did not answer within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.02)
        return self

    def kill9(self) -> None:
        """``kill -9``: no shutdown code runs; what the log holds is what a restart finds."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process is killed all the same
            self.process.kill()
            self.process.wait(10)

    def restart(self, timeout: float = 30.0) -> Self:
        """``kill9()`` then ``start()``: same port, same data."""
        self.kill9()
        return self.start(timeout)

    def pause(self) -> None:
        """SIGSTOP: the server accepts connections but answers nothing (a stalled store)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> None:
        """A clean shutdown (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def __enter__(self) -> Self:
        return self if self.alive() else self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def running_kvserver(*, port: int | None = None, args: Sequence[str] = ()) -> Iterator[KvServer]:
    """A started kvserver in a temporary data directory, stopped and removed afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="kvserver-test-") as data_dir,
        KvServer(data_dir, port=port, args=args) as server,
    ):
        yield server


def _fixture() -> Any:
    try:
        import pytest
    except ImportError:  # the context manager works without pytest
        return None

    @pytest.fixture
    def kvserver(tmp_path: Path) -> Iterator[KvServer]:
        """A kvserver of this test's own, on a free port, in the test's tmp_path."""
        server = KvServer(tmp_path / "kvserver").start()
        yield server
        server.stop()

    return kvserver


kvserver = _fixture()
