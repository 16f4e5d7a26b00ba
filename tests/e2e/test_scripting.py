"""Scripting end to end: without lupa, effects in the log across kill -9, runaway scripts."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.protocol import encode_command
from kvserver.scripting import UNAVAILABLE
from tests.support import RawClient, ServerProcess, command, request, wait_for

# the server with lupa hidden: ``import lupa`` fails as if the extra were not installed
_WITHOUT_LUPA = (
    "import runpy, sys; sys.modules['lupa'] = None; sys.modules['lupa.lua51'] = None; "
    "sys.argv[0] = 'kvserver'; runpy.run_module('kvserver', run_name='__main__', alter_sys=True)"
)


def server_without_lupa(data_dir: Path, *extra: str) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", _WITHOUT_LUPA, "--port", "0", "--dir", str(data_dir), *extra]
    return ServerProcess(argv, data_dir / "server.log", r"port=(\d+)\.")


def test_without_lupa_scripting_names_the_extra_and_the_rest_works(tmp_path: Path) -> None:
    server = server_without_lupa(tmp_path / "nolupa", "--appendonly", "no").start()
    try:
        client = redis.Redis(port=server.port)
        for args in (
            ("EVAL", "return 1", "0"),
            ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"),
            ("SCRIPT", "LOAD", "return 1"),
            ("FUNCTION", "LIST"),
            ("FCALL", "f", "0"),
        ):
            with pytest.raises(redis.ResponseError) as raised:
                command(client, *args)
            assert str(raised.value) == UNAVAILABLE.removeprefix("ERR ")
        assert client.set("k", "v") is True
        assert client.get("k") == b"v"
        assert command(client, "SCRIPT", "HELP")[0].startswith(b"SCRIPT <subcommand>")
        client.close()
    finally:
        server.terminate()


TIMED_WRITE = (
    "local t = redis.call('TIME') local stamp = t[1] .. '.' .. t[2] "
    "redis.call('set', KEYS[1], stamp) redis.call('incr', KEYS[2]) return stamp"
)
COUNTER_LIBRARY = (
    "#!lua name=counters\n"
    "redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)"
)


def _rewrite_done(client: redis.Redis) -> bool:
    info = client.info("persistence")
    return bool(info["aof_rewrite_in_progress"] == 0 and info["aof_rewrite_scheduled"] == 0)


def _check_restored(client: redis.Redis, stamp: bytes, runs: int) -> None:
    assert client.get("stamp") == stamp  # the logged effect, not a new TIME: nothing was re-run
    assert client.get("runs") == b"%d" % runs
    assert client.get("bumped") == b"15"
    assert [lib[b"library_name"] for lib in command(client, "FUNCTION", "LIST")] == [b"counters"]
    assert command(client, "FCALL", "bump", "1", "bumped", "0") == 15


@pytest.mark.slow
def test_script_effects_and_functions_survive_kill9_and_a_rewrite(
    spawn: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"

    def start() -> tuple[ServerProcess, redis.Redis]:
        server = spawn("--appendonly", "yes", "--appendfsync", "always", data_dir=data)
        return server, redis.Redis(port=server.port)

    server, client = start()
    stamp = b""
    for _ in range(5):
        stamp = command(client, "EVAL", TIMED_WRITE, "2", "stamp", "runs")
    assert command(client, "FUNCTION", "LOAD", COUNTER_LIBRARY) == b"counters"
    for _ in range(3):
        command(client, "FCALL", "bump", "1", "bumped", "5")
    client.close()
    server.kill9()

    server, client = start()
    _check_restored(client, stamp, 5)
    # a rewrite writes the libraries first, then the keys; kill -9 after it
    client.bgrewriteaof()
    wait_for(lambda: _rewrite_done(client))
    client.close()
    server.kill9()

    server, client = start()
    _check_restored(client, stamp, 5)
    client.close()
    server.kill9()

    # the effects replay without lupa too (the FUNCTION LOAD record is refused, counted, logged)
    plain = server_without_lupa(data, "--appendonly", "yes").start()
    try:
        client = redis.Redis(port=plain.port)
        assert client.get("stamp") == stamp
        assert client.get("runs") == b"5"
        assert client.get("bumped") == b"15"
        client.close()
    finally:
        plain.kill9()
    assert "records of the AOF were rejected on replay" in plain.log()


BUSY_EVAL = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"


def _eval_in_thread(port: int, script: str) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        client = redis.Redis(port=port, socket_timeout=60)
        try:
            outcome.append(command(client, "EVAL", script, "0"))
        except redis.ResponseError as exc:
            outcome.append(str(exc))
        client.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _busy(port: int) -> bool:
    probe = RawClient(port)
    try:
        return request(probe, "PING") == BUSY_EVAL
    finally:
        probe.close()


def test_a_runaway_script_gets_busy_replies_and_script_kill_ends_it(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no", "--busy-reply-threshold", "200")
    watcher = RawClient(server.port)  # connected before the script: served by the busy poll
    in_multi = RawClient(server.port)
    assert request(in_multi, "MULTI") == b"+OK\r\n"
    assert request(in_multi, "INCR", "n") == b"+QUEUED\r\n"
    started = time.monotonic()
    runaway = "local i = 0 while true do i = i + 1 end"
    thread, outcome = _eval_in_thread(server.port, runaway)
    wait_for(lambda: request(watcher, "PING") == BUSY_EVAL)
    assert time.monotonic() - started >= 0.2  # others wait (atomicity) until the threshold
    assert request(watcher, "GET", "k") == BUSY_EVAL
    assert request(in_multi, "INCR", "n") == BUSY_EVAL
    assert request(in_multi, "EXEC") == b"-EXECABORT Transaction discarded because of: " + BUSY_EVAL[1:]
    assert _busy(server.port)  # a client that connects meanwhile is answered too (and closes)
    leaving = RawClient(server.port)
    assert request(leaving, "QUIT") == b"+OK\r\n"
    assert leaving.recv_until_closed() == b""
    leaving.close()
    assert request(watcher, "FUNCTION", "KILL") == BUSY_EVAL  # (texts as redis-server's, checked by hand)
    assert request(watcher, "FUNCTION", "STATS") == BUSY_EVAL
    killer = RawClient(server.port)
    assert request(killer, "SCRIPT", "KILL") == b"+OK\r\n"
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1
    sha = hashlib.sha1(runaway.encode()).hexdigest()
    assert outcome == [f"Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1."]
    assert request(watcher, "PING") == b"+PONG\r\n"
    assert request(in_multi, "PING") == b"+PONG\r\n"  # out of MULTI: nothing of it ran
    assert request(in_multi, "GET", "n") == b"$-1\r\n"
    in_multi.close()
    assert request(killer, "SET", "k", "v") == b"+OK\r\n"  # the client accepted while busy is a normal one now
    assert request(killer, "SCRIPT", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    # the clients that left while the script was busy are gone from the registry
    wait_for(lambda: b"connected_clients:2\r\n" in request(killer, "INFO", "clients"))
    watcher.close()
    killer.close()


@pytest.mark.slow
def test_a_script_that_wrote_is_unkillable_and_shutdown_nosave_stops_the_server(
    spawn: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "busy"
    server = spawn("--appendonly", "yes", "--busy-reply-threshold", "200", data_dir=data)
    client = redis.Redis(port=server.port)
    client.set("before", "1")
    thread, _ = _eval_in_thread(server.port, "redis.call('set', 'written', '1') while true do end")
    wait_for(lambda: _busy(server.port))
    killer = RawClient(server.port)
    assert request(killer, "SCRIPT", "KILL").startswith(b"-UNKILLABLE Sorry the script already executed write")
    assert request(killer, "SHUTDOWN").startswith(b"-BUSY")
    killer.send(encode_command("SHUTDOWN", "NOSAVE"))
    wait_for(lambda: not server.alive(), timeout=20)
    thread.join(10)
    killer.close()
    client.close()
    server = spawn("--appendonly", "yes", data_dir=data)
    client = redis.Redis(port=server.port)
    assert client.get("before") == b"1"
    assert client.get("written") is None  # the script never ended: none of its writes were logged
    client.close()
