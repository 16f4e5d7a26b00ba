"""Durability with real processes: kill -9 and restart, torn and corrupt logs, rewrite, disk full."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.aof_format import FrameScanner
from tests.support import (
    ServerProcess,
    export_into_redis,
    fill_disk,
    kvserver_process,
    load_keys,
    pexpiretime,
    wait_for,
)

Spawn = Callable[..., ServerProcess]


def writer(port: int, name: str, acked: dict[bytes, tuple[bytes, int]], stop: threading.Event, mode: str) -> None:
    """Write until the server dies; record every acknowledged write with its absolute deadline."""
    r = redis.Redis(port=port, socket_timeout=10)
    i = 0
    try:
        while not stop.is_set():
            deadline = int(time.time() * 1000) + 3_600_000 + i
            keys = [f"{name}:{i + j}".encode() for j in range(4)]
            if mode == "plain":
                r.set(keys[0], b"v%d" % i, pxat=deadline)
                acked[keys[0]] = (b"v%d" % i, deadline)
            else:
                pipe = r.pipeline(transaction=(mode == "multi"))
                for key in keys:
                    pipe.set(key, b"v%d" % i, pxat=deadline)
                pipe.execute()
                for key in keys:
                    acked[key] = (b"v%d" % i, deadline)
            i += 4
    except (redis.ConnectionError, redis.TimeoutError):
        pass
    finally:
        r.close()


@pytest.mark.slow
def test_acknowledged_writes_survive_kill_9_for_many_cycles(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "crash"
    acked: dict[bytes, tuple[bytes, int]] = {}
    for cycle in range(5):
        server = spawn(data_dir=data_dir)
        r = redis.Redis(port=server.port)
        # everything acknowledged in earlier cycles is back, value and absolute deadline unchanged
        for key, (value, deadline) in acked.items():
            assert r.get(key) == value, (cycle, key)
            assert pexpiretime(r, key) == deadline, (cycle, key)
        stop = threading.Event()
        threads = [
            threading.Thread(target=writer, args=(server.port, f"c{cycle}w{n}", acked, stop, mode))
            for n, mode in enumerate(["plain", "pipeline", "multi", "plain"])
        ]
        for thread in threads:
            thread.start()
        target = (cycle + 1) * 400
        wait_for(lambda: len(acked) > target, timeout=30)  # noqa: B023 - read while this cycle runs
        server.kill9()
        stop.set()
        for thread in threads:
            thread.join()
        r.close()
    final = spawn(data_dir=data_dir)
    r = redis.Redis(port=final.port)
    missing = [key for key, (value, _) in acked.items() if r.get(key) != value]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    # a MULTI/EXEC is all or nothing: groups of four written together are complete or absent
    for key in r.scan_iter(match="c*w2:*", count=1000):
        base = int(key.rsplit(b":", 1)[1]) // 4 * 4
        prefix = key.rsplit(b":", 1)[0]
        assert r.exists(*(b"%s:%d" % (prefix, base + j) for j in range(4))) == 4
    r.close()


@pytest.mark.slow
def test_everysec_loss_is_bounded(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "everysec"
    server = spawn("--appendfsync", "everysec", data_dir=data_dir)
    acked: dict[bytes, tuple[bytes, int]] = {}
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(server.port, "e", acked, stop, "pipeline"))
    thread.start()
    wait_for(lambda: len(acked) > 2000, timeout=30)
    server.kill9()
    stop.set()
    thread.join()
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    lost = sum(1 for key, (value, _) in acked.items() if r.get(key) != value)
    print(f"\neverysec: {lost} of {len(acked)} acknowledged writes lost to kill -9")
    # a process crash loses nothing the kernel accepted; only a power loss could lose ~1 s
    assert lost == 0
    r.close()


def fill(port: int, count: int) -> dict[bytes, bytes]:
    r = redis.Redis(port=port)
    expected = {}
    for i in range(count):
        r.set(f"k{i}", f"value-{i}", ex=3600)
        expected[f"k{i}".encode()] = f"value-{i}".encode()
    r.close()
    return expected


def test_a_torn_tail_is_cut_off_at_startup_with_the_servers_warning(spawn: Spawn, tmp_path: Path) -> None:
    """One end-to-end run: a log cut inside its last frame. That the cut may fall at ANY offset is
    checked in-process over every byte offset (tests/unit/test_replay.py)."""
    data_dir = tmp_path / "torn"
    server = spawn(data_dir=data_dir)
    fill(server.port, 20)
    r = redis.Redis(port=server.port)
    r.set("last", "x" * 40)
    r.close()
    assert server.terminate() == 0
    log_path = data_dir / "appendonly.aof"
    image = log_path.read_bytes()
    last_offset = list(FrameScanner(image))[-1][0]
    log_path.write_bytes(image[: (last_offset + len(image)) // 2])  # half of the last frame
    torn = spawn(data_dir=data_dir)
    client = redis.Redis(port=torn.port)
    assert client.dbsize() == 20
    assert client.get("k19") == b"value-19"
    assert client.exists("last") == 0
    client.close()
    torn.kill9()
    log = torn.log()
    assert "short read while loading the AOF file appendonly.aof" in log
    assert f"Truncating the AOF appendonly.aof at offset {last_offset}" in log
    assert log_path.stat().st_size == last_offset


@pytest.mark.slow
def test_corruption_in_the_middle_refuses_to_start_and_check_aof_fixes_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "corrupt"
    server = kvserver_process(data_dir).start()
    fill(server.port, 50)
    assert server.terminate() == 0
    log_path = data_dir / "appendonly.aof"
    image = bytearray(log_path.read_bytes())
    frames = list(FrameScanner(bytes(image)))
    damaged_offset = frames[25][0]
    image[damaged_offset + 20] ^= 0xFF  # a flipped byte inside record 26's payload
    log_path.write_bytes(bytes(image))

    refused = kvserver_process(data_dir)
    result = subprocess.run(refused.argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    assert f"at offset {damaged_offset}: bad record checksum" in result.stdout
    assert f"kvserver check-aof --fix {log_path}" in result.stdout
    assert log_path.read_bytes() == bytes(image)  # nothing was cut or loaded silently

    check = subprocess.run(
        [sys.executable, "-m", "kvserver", "check-aof", str(log_path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 1
    assert f"records=25, keys=25, ok_up_to={damaged_offset}" in check.stdout
    fix = subprocess.run(
        [sys.executable, "-m", "kvserver", "check-aof", "--fix", str(log_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fix.returncode == 0, fix.stdout
    assert list(data_dir.glob("appendonly.aof.bak-*"))
    fixed = kvserver_process(data_dir).start()
    r = redis.Redis(port=fixed.port)
    assert r.dbsize() == 25
    assert r.get("k24") == b"value-24"
    r.close()
    fixed.terminate()


def test_flipped_frame_header_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    data_dir = tmp_path / "header"
    server = kvserver_process(data_dir).start()
    fill(server.port, 10)
    server.terminate()
    log_path = data_dir / "appendonly.aof"
    image = bytearray(log_path.read_bytes())
    offset = list(FrameScanner(bytes(image)))[3][0]
    image[offset + 2] ^= 0x40  # the length field now claims a frame running past the end
    log_path.write_bytes(bytes(image))
    check = subprocess.run(
        [sys.executable, "-m", "kvserver", "check-aof", str(log_path)], capture_output=True, text=True, check=False
    )
    assert f"AOF is corrupt at offset {offset}: bad frame header checksum" in check.stdout


def test_rewrite_compacts_and_restarts_to_the_same_keyspace(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "rewrite"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    for i in range(200):
        r.set(f"k{i % 20}", f"v{i}", ex=1000 + i)
        r.incr("counter")
    r.set("gone", "x")
    r.delete("gone")
    before = {key: (r.get(key), pexpiretime(r, key)) for key in r.keys("*")}
    size_before = int(r.info("persistence")["aof_current_size"])
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    assert int(r.info("persistence")["aof_current_size"]) < size_before / 5
    r.set("after", "rewrite")
    r.close()
    server.kill9()
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert r.get("after") == b"rewrite"
    r.delete("after")
    assert {key: (r.get(key), pexpiretime(r, key)) for key in r.keys("*")} == before
    r.close()


@pytest.mark.slow
def test_writes_during_a_rewrite_are_kept(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "during"
    server = spawn("--appendfsync", "everysec", data_dir=data_dir)
    r = redis.Redis(port=server.port)
    load_keys(server.port, 100_000, int(time.time() * 1000) + 3_600_000)
    for i in range(100):
        r.set(f"k:{i}", "base")
    assert r.bgrewriteaof()
    written = 0
    while r.info("persistence")["aof_rewrite_in_progress"]:
        r.incr("during")
        r.append(f"k:{written % 100}", "+")
        written += 1
    for _ in range(50):
        r.incr("during")
        written += 1
    assert r.info("persistence")["aof_rewrites"] == 1
    expected = {f"k:{i}".encode(): r.get(f"k:{i}") for i in range(100)}
    r.close()
    server.kill9()
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert r.dbsize() == 100_001
    assert int(r.get("during") or 0) == written
    assert {key: r.get(key) for key in expected} == expected
    r.close()


@pytest.mark.slow
def test_crash_during_a_rewrite_leaves_a_complete_log(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "midrewrite"
    server = spawn(data_dir=data_dir)
    load_keys(server.port, 100_000, int(time.time() * 1000) + 3_600_000)
    r = redis.Redis(port=server.port)
    r.bgrewriteaof()
    wait_for(lambda: (data_dir / "appendonly.aof.rewrite.tmp").exists(), timeout=10, interval=0.001)
    server.kill9()
    r.close()
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert r.dbsize() == 100_000
    assert "left by an interrupted rewrite" in restarted.log()
    r.close()


def test_sigterm_flushes_everything(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "graceful"
    server = spawn("--appendfsync", "no", data_dir=data_dir)
    expected = fill(server.port, 300)
    assert server.terminate() == 0
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert {key: r.get(key) for key in expected} == expected
    r.close()


@pytest.mark.slow
def test_expired_keys_are_dropped_at_load_and_deadlines_kept(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "deadlines"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    r.set("short", "x", px=300)
    r.set("long", "y", ex=3600)
    deadline = pexpiretime(r, "long")
    r.close()
    server.kill9()
    time.sleep(0.4)  # the server is down: nothing to poll; let the short deadline pass
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert r.exists("short") == 0
    assert r.dbsize() == 1
    assert pexpiretime(r, "long") == deadline
    r.close()


@pytest.mark.slow
def test_disk_full_refuses_writes_serves_reads_and_recovers(spawn: Spawn, small_disk: Path) -> None:
    server = spawn(data_dir=small_disk)
    r = redis.Redis(port=server.port, socket_timeout=20)
    r.set("before", "ok")
    filler = fill_disk(small_disk)  # take all the space that is left
    held: list[object] = []
    blocked = threading.Thread(target=lambda: held.append(redis.Redis(port=server.port).set("big", "x" * 50_000)))
    blocked.start()
    wait_for(lambda: r.info("persistence")["aof_last_write_status"] == "err", timeout=10)
    with pytest.raises(redis.ResponseError, match="MISCONF Errors writing to the AOF file"):
        r.set("refused", "x")
    assert r.get("before") == b"ok"  # reads keep working
    assert held == []  # the write that hit the full disk is not acknowledged
    filler.unlink()
    blocked.join(20)
    assert held == [True]  # acknowledged once it is really on disk
    wait_for(lambda: r.info("persistence")["aof_last_write_status"] == "ok")
    assert r.set("after", "ok") is True
    r.close()
    server.kill9()
    restarted = spawn(data_dir=small_disk)
    r = redis.Redis(port=restarted.port)
    assert r.get("before") == b"ok"
    assert r.get("after") == b"ok"
    assert r.strlen("big") == 50_000
    assert r.exists("refused") == 0
    r.close()
    restarted.kill9()


def test_export_loads_into_real_redis(spawn: Spawn, tmp_path: Path, real_redis: ServerProcess) -> None:
    data_dir = tmp_path / "export"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    r.set("plain", "v")
    r.set("ttl", "w", ex=3600)
    deadline = pexpiretime(r, "ttl")
    r.set(b"bin\x00\r\n", bytes(range(256)))
    r.close()
    server.terminate()
    target = export_into_redis(data_dir, real_redis.port)
    assert target.get("plain") == b"v"
    assert pexpiretime(target, "ttl") == deadline
    assert target.get(b"bin\x00\r\n") == bytes(range(256))
    target.flushall()
    target.close()


def test_appendonly_no_writes_no_log(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "memory"
    server = spawn("--appendonly", "no", data_dir=data_dir)
    fill(server.port, 5)
    server.terminate()
    assert not (data_dir / "appendonly.aof").exists()
    assert os.listdir(data_dir) == ["server.log"]


def test_log_is_rewritten_automatically_when_it_doubles(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "auto"
    server = spawn("--auto-aof-rewrite-min-size", "4kb", "--appendfsync", "no", data_dir=data_dir)
    r = redis.Redis(port=server.port)
    for i in range(400):
        r.set("same-key", f"value-{i}")
    wait_for(lambda: r.info("persistence")["aof_rewrites"] >= 1)
    assert "Starting automatic rewriting of AOF" in server.log()
    assert (data_dir / "appendonly.aof").stat().st_size < 4096 * 3
    r.close()
    server.kill9()
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert r.get("same-key") == b"value-399"
    r.close()
