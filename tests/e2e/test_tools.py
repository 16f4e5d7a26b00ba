"""redis-cli (one-shot and interactive) and redis-benchmark against a real kvserver process."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

import pytest

from tests.support import ServerProcess, require_tool

pytestmark = pytest.mark.external


def cli(port: int, *args: str, stdin: str | None = None) -> str:
    binary = require_tool("redis-cli")
    result = subprocess.run(
        [binary, "-p", str(port), *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_redis_cli_one_shot(kv_server: ServerProcess) -> None:
    port = kv_server.port
    assert cli(port, "FLUSHALL") == "OK\n"
    assert cli(port, "SET", "greeting", "hello world", "EX", "100") == "OK\n"
    assert cli(port, "GET", "greeting") == "hello world\n"
    assert cli(port, "TTL", "greeting") in ("(integer) 100\n", "(integer) 99\n", "100\n", "99\n")
    assert cli(port, "--no-raw", "TTL", "greeting").startswith("(integer) ")
    assert cli(port, "--no-raw", "GET", "nope") == "(nil)\n"
    assert cli(port, "--no-raw", "MGET", "greeting", "nope") == '1) "hello world"\n2) (nil)\n'
    assert cli(port, "--no-raw", "NOSUCH") == "(error) ERR unknown command 'NOSUCH', with args beginning with: \n"
    assert cli(port, "-3", "--no-raw", "HELLO", "3").startswith('1# "server" => "redis"')
    assert cli(port, "INCR", "n") == "1\n"
    assert cli(port, "DEL", "greeting", "n") == "2\n"
    info = cli(port, "INFO", "server")
    assert "redis_version:7.0.15" in info


def test_redis_cli_reads_commands_from_stdin(kv_server: ServerProcess) -> None:
    out = cli(kv_server.port, stdin="SET a 1\nINCR a\nGET a\nDEL a\n")
    assert out == "OK\n2\n2\n1\n"


def test_redis_cli_pipe_mode_loads_commands(kv_server: ServerProcess) -> None:
    commands = "".join(f"SET pipe:{i} {i}\r\n" for i in range(1000))
    out = cli(kv_server.port, "--pipe", stdin=commands)
    assert "errors: 0, replies: 1000" in out
    assert cli(kv_server.port, "DBSIZE").strip() != "0"
    cli(kv_server.port, "FLUSHALL")


def test_redis_cli_interactive_session(kv_server: ServerProcess) -> None:
    """A real terminal: redis-cli asks COMMAND DOCS for hints, then runs what is typed."""
    binary = require_tool("redis-cli")
    pid, fd = pty.fork()
    if pid == 0:  # child: become redis-cli on the terminal
        os.execve(binary, [binary, "-p", str(kv_server.port)], {**os.environ, "TERM": "dumb"})
    output = b""

    def read_until(marker: bytes, timeout: float = 10.0) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while marker not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {marker!r} in {output!r}"
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                output += os.read(fd, 65536)

    try:
        prompt = f"127.0.0.1:{kv_server.port}> ".encode()
        read_until(prompt)
        os.write(fd, b"SET interactive yes\r")
        read_until(b"OK")
        os.write(fd, b"GET interactive\r")
        read_until(b'"yes"')
        os.write(fd, b"DEL interactive\r")
        read_until(b"(integer) 1")
        os.write(fd, b"QUIT\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    assert re.search(rb"ERR|error", output) is None, output


def test_redis_benchmark_runs_without_errors(kv_server: ServerProcess) -> None:
    binary = require_tool("redis-benchmark")
    result = subprocess.run(
        [binary, "-p", str(kv_server.port), "-t", "ping,set,get,incr,mset", "-n", "2000", "-c", "10", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Could not fetch server CONFIG" not in output
    assert "Error" not in output
    for test in ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"):
        assert re.search(rf"{test}( \(10 keys\))?: [\d.]+ requests per second", output), output


def stat_lines(port: int, count: int) -> list[str]:
    """The first ``count`` lines of ``redis-cli --stat`` (unbuffered through stdbuf), then stop it."""
    binary = require_tool("redis-cli")
    with subprocess.Popen(
        [require_tool("stdbuf"), "-o0", binary, "-p", str(port), "--stat", "-i", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            return [proc.stdout.readline() for _ in range(count)]
        finally:
            proc.kill()


@pytest.mark.parametrize("which", ["kvserver", "redis"])
def test_redis_cli_stat_counts_the_keys(kv_server: ServerProcess, real_redis: ServerProcess, which: str) -> None:
    """--stat asks CONFIG GET databases (a two-element reply) and sums INFO keyspace's dbN lines."""
    port = (kv_server if which == "kvserver" else real_redis).port
    cli(port, "FLUSHALL")
    cli(port, "MSET", "a", "1", "b", "2", "c", "3")
    header, columns, first = stat_lines(port, 3)
    assert header.startswith("------- data ------")
    assert columns.split()[:4] == ["keys", "mem", "clients", "blocked"]
    assert first.split()[0] == "3"
    cli(port, "FLUSHALL")
