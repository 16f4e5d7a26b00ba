"""The log under real faults: no descriptors left (RLIMIT_NOFILE and idle connections), a full
disk, during a rewrite and in the cron. Each test starts a real server and makes the fault real."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support import ServerProcess, fill_disk, kvserver_process, load_keys, require_tool, wait_for

NOFILE = 48


def limited(data_dir: Path, nofile: int, *extra: str) -> ServerProcess:
    """A running kvserver that may from now on hold at most ``nofile`` descriptors.

    The limit is lowered after startup (prlimit(1) on the live process): started under it, the
    server would fit maxclients to it, as Redis does, and clients could no longer use up the
    descriptors the log needs.
    """
    server = kvserver_process(data_dir, *extra).start()
    subprocess.run([require_tool("prlimit"), "--pid", str(server.pid), f"--nofile={nofile}:{nofile}"], check=True)
    return server


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def take_descriptors(server: ServerProcess, leave: int, limit: int = NOFILE) -> list[socket.socket]:
    """Open idle connections until the server has only ``leave`` descriptors left."""
    idle: list[socket.socket] = []
    while (used := descriptors(server.pid)) < limit - leave:
        idle.append(socket.create_connection(("127.0.0.1", server.port)))
        wait_for(lambda: descriptors(server.pid) > used, timeout=5)
    return idle


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.alive():
            server.kill9()


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["kill9", "sigterm"])
def test_rewrite_with_no_descriptor_left_keeps_every_later_write(
    tmp_path: Path, servers: list[ServerProcess], stop: str
) -> None:
    """The switch to the rewritten log needs no descriptor once the file is renamed: writes
    acknowledged after the rewrite are in the log the next start reads."""
    data_dir = tmp_path / "emfile"
    server = limited(data_dir, NOFILE)
    servers.append(server)
    load_keys(server.port, 100_000, 2_000_000_000_000)
    r = redis.Redis(port=server.port, socket_timeout=30)
    assert r.ping()
    idle = take_descriptors(server, leave=2)
    assert r.bgrewriteaof()
    # whatever the rewrite has not taken yet, an idle connection takes now (a rewrite that has
    # already finished has given its descriptor back: then the count stops one short)
    idle.append(socket.create_connection(("127.0.0.1", server.port)))
    wait_for(
        lambda: descriptors(server.pid) >= NOFILE or r.info("persistence")["aof_rewrite_in_progress"] == 0,
        timeout=5,
    )
    wait_for(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, timeout=30)
    status = r.info("persistence")["aof_last_bgrewrite_status"]
    for sock in idle:
        sock.close()
    for i in range(100):
        r.set(f"after:{i}", i)
    r.close()
    if stop == "kill9":
        server.kill9()
    else:
        assert server.terminate() == 0
    restarted = kvserver_process(data_dir).start()
    servers.append(restarted)
    r = redis.Redis(port=restarted.port)
    assert r.mget([f"after:{i}" for i in range(100)]) == [b"%d" % i for i in range(100)]
    assert r.dbsize() == 100_100
    assert status == "ok"
    r.close()


@pytest.mark.slow
def test_cron_survives_an_automatic_rewrite_that_cannot_open_its_file(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """No descriptor left: the automatic rewrite fails, is logged, and active expiry goes on."""
    server = limited(tmp_path / "cron", NOFILE, "--auto-aof-rewrite-min-size", "1kb")
    servers.append(server)
    r = redis.Redis(port=server.port, socket_timeout=10)
    assert r.ping()
    idle = take_descriptors(server, leave=0)
    for i in range(50):  # the log passes the minimum size: the cron starts a rewrite, which fails
        r.set(f"short:{i}", "x" * 40, px=300)
    wait_for(lambda: "Can't rewrite append only file in background" in server.log(), timeout=10)
    wait_for(lambda: r.dbsize() == 0, timeout=10)  # nobody reads them: only the cron removes them
    assert r.info("stats")["expired_keys"] == 50
    failures = server.log().count("Can't rewrite append only file in background: Too many open files")
    assert 1 <= failures <= 3  # retried with a growing pause, not ten times a second
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "err"
    for sock in idle:
        sock.close()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, timeout=10)  # it retries and succeeds
    r.close()


@pytest.mark.slow
def test_bgrewriteaof_on_a_full_disk_replies_logs_and_cleans_up(
    tmpfs: Callable[[str], Path], servers: list[ServerProcess]
) -> None:
    disk = tmpfs("256k")
    server = kvserver_process(disk).start()
    servers.append(server)
    r = redis.Redis(port=server.port, socket_timeout=10)
    r.set("before", "ok")
    used = descriptors(server.pid)
    filler = fill_disk(disk)
    with pytest.raises(redis.ResponseError) as refused:
        r.bgrewriteaof()
    assert str(refused.value) == (
        "Can't execute an AOF background rewriting. Please check the server logs for more information."
    )
    assert "Can't rewrite append only file in background: No space left on device" in server.log()
    persistence = r.info("persistence")
    assert persistence["aof_rewrite_in_progress"] == 0
    assert persistence["aof_last_bgrewrite_status"] == "err"
    assert descriptors(server.pid) == used  # nothing leaked
    assert not (disk / "appendonly.aof.rewrite.tmp").exists()
    filler.unlink()
    r.set("after", "ok")
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    r.close()
    server.kill9()
    restarted = kvserver_process(disk).start()
    servers.append(restarted)
    r = redis.Redis(port=restarted.port)
    assert r.mget("before", "after") == [b"ok", b"ok"]
    r.close()


@pytest.mark.slow
def test_rewrite_that_runs_out_of_disk_midway_is_logged_and_leaves_the_log(
    tmpfs: Callable[[str], Path], servers: list[ServerProcess]
) -> None:
    disk = tmpfs("2m")
    server = kvserver_process(disk, "--appendfsync", "everysec").start()
    servers.append(server)
    load_keys(server.port, 20_000, 2_000_000_000_000, value=b"v" * 20)
    r = redis.Redis(port=server.port, socket_timeout=10)
    assert r.ping()
    wait_for(lambda: r.info("clients")["connected_clients"] == 1)  # load_keys' connection is closed
    used = descriptors(server.pid)
    size = (disk / "appendonly.aof").stat().st_size
    filler = fill_disk(disk, leave=size // 3)  # room for the header, not for the dump
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, timeout=20)
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "err"
    assert "Background AOF rewrite terminated with error: No space left on device" in server.log()
    assert not (disk / "appendonly.aof.rewrite.tmp").exists()
    wait_for(lambda: descriptors(server.pid) == used)
    assert r.set("after", "ok")  # the live log goes on, in the space the dump gave back
    filler.unlink()
    r.close()
    server.kill9()
    restarted = kvserver_process(disk).start()
    servers.append(restarted)
    r = redis.Redis(port=restarted.port)
    assert r.dbsize() == 20_001
    r.close()
