"""The kvserver process: options, defaults, signals and shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.cli import parse_config
from tests.support import ServerProcess, kvserver_process, require_tool


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvserver", *args], capture_output=True, text=True, timeout=30, cwd=cwd, check=False
    )


def test_defaults_are_loopback_6379_and_data_dir() -> None:
    config = parse_config([])
    assert (config.bind, config.port, config.dir) == ("127.0.0.1", 6379, "./data")
    assert (config.appendonly, config.appendfsync, config.appendfilename) == (True, "always", "appendonly.aof")


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "abc"],
        ["--port", "70000"],
        ["--appendfsync", "sometimes"],
        ["--maxclients", "0"],
        ["--appendonly", "maybe"],
        ["--no-such-option"],
        ["--no-such-option", "1"],
        ["--port", "1", "2"],
        ["--port", "6379", "--hz", "x y"],
    ],
)
def test_bad_option_is_redis_fatal_config_error(args: list[str], tmp_path: Path) -> None:
    """The same stderr as redis-server, byte for byte: Redis's FATAL CONFIG FILE ERROR naming the line."""
    redis_server = require_tool("redis-server")
    ours = run_cli(*args)
    theirs = subprocess.run(
        [redis_server, *args], capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False
    )
    assert (ours.returncode, theirs.returncode) == (1, 1)
    assert ours.stderr == theirs.stderr
    assert "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***" in ours.stderr
    assert ours.stdout == ""


def test_data_dir_is_created_relative_to_the_working_directory(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "kvserver", "--port", "0", "--appendonly", "no"]
    server = ServerProcess(argv, tmp_path / "server.log", r"port=(\d+)\.", cwd=tmp_path).start()
    assert (tmp_path / "data").is_dir()
    assert server.terminate() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_shut_down_gracefully(spawn: Callable[..., ServerProcess], signum: int) -> None:
    server = spawn("--appendonly", "no")
    assert server.proc is not None
    server.proc.send_signal(signum)
    assert server.proc.wait(20) == 0
    name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
    assert f"Received {name} scheduling shutdown" in server.log()
    assert "ready to exit, bye bye" in server.log()


@pytest.mark.slow
def test_shutdown_command(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no")
    r = redis.Redis(port=server.port)
    r.shutdown()  # the server answers nothing: it closes the connection and exits
    assert server.proc is not None
    assert server.proc.wait(20) == 0
    r.close()


def test_startup_banner_looks_like_redis(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no")
    log = server.log()
    assert "kvserver is starting" in log
    assert f"pid={server.pid}" in log
    assert f"port={server.port}" in log
    assert f"{server.pid}:M " in log
    assert " * Ready to accept connections tcp" in log


@pytest.mark.slow
def test_port_in_use_fails_cleanly(spawn: Callable[..., ServerProcess], tmp_path: Path) -> None:
    first = spawn("--appendonly", "no")
    second = kvserver_process(tmp_path / "second", "--appendonly", "no", "--port", str(first.port))
    proc = subprocess.run(second.argv, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert "Failed listening on port" in proc.stdout


def test_console_script_is_installed() -> None:
    import shutil

    path = shutil.which("kvserver")
    assert path is not None, "pip install -e '.[test]' installs the kvserver console script"
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    # what tools parsing Redis's version read (pytest-redis: the first dotted number), then kvserver's own
    assert result.stdout.startswith("Redis server v=7.0.15 sha=")
    assert result.stdout.rstrip().endswith("(kvserver 0.1.0)")
