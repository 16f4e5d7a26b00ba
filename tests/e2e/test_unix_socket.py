"""unixsocket and unixsocketperm: redis-cli -s and redis-py's unix_socket_path, beside redis-server."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import ServerProcess, command, free_port, kvserver_process, redis_server_process, require_tool


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A Unix socket path must fit in 107 bytes: pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="kvsock", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["kvserver", "redis-server"])
def unix_server(request: pytest.FixtureRequest, short_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    sock = short_dir / "s.sock"
    args = ("--unixsocket", str(sock), "--unixsocketperm", "700")
    if request.param == "kvserver":
        # (kvserver's --port 0 with a unixsocket would mean no TCP, as in Redis)
        server = kvserver_process(tmp_path / "kv", "--appendonly", "no", "--port", str(free_port()), *args).start()
    else:
        server = redis_server_process(tmp_path / "redis", *args).start()
    server.sock = sock  # type: ignore[attr-defined]
    yield server
    server.terminate()


def test_unix_socket_with_redis_py_and_redis_cli(unix_server: ServerProcess) -> None:
    sock: Path = unix_server.sock  # type: ignore[attr-defined]
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o700
    r = redis.Redis(unix_socket_path=str(sock))
    assert r.set("k", "v")
    cli = require_tool("redis-cli")
    out = subprocess.run([cli, "-s", str(sock), "GET", "k"], capture_output=True, text=True, timeout=10, check=True)
    assert out.stdout == "v\n"
    # CLIENT LIST as Redis shows a socket client: addr and laddr are path:0, flag U
    line = command(r, "CLIENT", "INFO").decode()
    assert f" addr={sock}:0 laddr={sock}:0 " in line
    assert " flags=U " in line
    r.close()
    # TCP goes on beside it
    assert redis.Redis(port=unix_server.port).get("k") == b"v"


def test_socket_file_is_removed_at_shutdown(unix_server: ServerProcess) -> None:
    sock: Path = unix_server.sock  # type: ignore[attr-defined]
    assert sock.exists()
    assert unix_server.terminate() == 0
    assert not sock.exists()


def test_port_0_with_a_unix_socket_means_no_tcp(short_dir: Path, tmp_path: Path) -> None:
    sock = short_dir / "only.sock"
    server = kvserver_process(tmp_path, "--appendonly", "no", "--port", "0", "--unixsocket", str(sock)).start()
    try:
        log = server.log()
        assert "port=0." in log
        assert "Ready to accept connections unix" in log
        assert "Ready to accept connections tcp" not in log
        assert f"The server is now ready to accept connections at {sock}" in log
        assert redis.Redis(unix_socket_path=str(sock)).ping()
    finally:
        server.terminate()


def test_a_stale_socket_file_is_replaced(short_dir: Path, tmp_path: Path) -> None:
    sock = short_dir / "stale.sock"
    sock.write_text("left by a crashed server")
    # protected mode on and no password: a Unix socket client is local, as in Redis (not DENIED)
    args = ("--unixsocket", str(sock), "--port", "0", "--protected-mode", "yes")
    server = kvserver_process(tmp_path, "--appendonly", "no", *args).start()
    try:
        assert redis.Redis(unix_socket_path=str(sock)).ping()
    finally:
        server.terminate()
