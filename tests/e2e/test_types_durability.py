"""Hashes, sets, sorted sets and lists survive kill -9, a rewrite, and writes during a rewrite.

Each test builds its keyspace with commands whose log records must be canonical to replay right
(SPOP's random pick, float increments, served blocking pops, STORE forms), takes a snapshot of
every key through the read commands, and compares it after a restart.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

from kvserver.aof_format import FrameScanner, decode_payload
from tests.support import ServerProcess, load_keys, pexpiretime, wait_for

Spawn = Callable[..., ServerProcess]
Snapshot = dict[bytes, tuple[bytes, object, int]]


def snapshot(r: redis.Redis, pattern: str = "*") -> Snapshot:
    """Every key matching ``pattern``: its type, its whole value, and its absolute deadline (-1: none)."""
    readers: dict[bytes, Callable[[bytes], object]] = {
        b"string": r.get,
        b"hash": r.hgetall,
        b"set": r.smembers,
        b"zset": lambda key: r.zrange(key, 0, -1, withscores=True),
        b"list": lambda key: r.lrange(key, 0, -1),
    }
    result: Snapshot = {}
    for key in cast(list[bytes], r.keys(pattern)):
        kind = cast(bytes, r.type(key))
        result[key] = (kind, readers[kind](key), pexpiretime(r, key))
    return result


def workload(r: redis.Redis, seed: int, rounds: int = 300) -> None:
    """A mix of writes on every type, with random choices the log must record as made."""
    rng = random.Random(seed)
    for i in range(rounds):
        n = rng.randrange(20)
        r.hset(f"h{n}", mapping={f"f{rng.randrange(10)}": i, "name": "x" * rng.randrange(100)})
        r.hincrby(f"h{n}", "count", 1)
        r.hincrbyfloat(f"h{n}", "float", 0.1)
        r.sadd(f"s{n}", *(rng.randrange(50) for _ in range(3)), f"m{i}")
        r.spop(f"s{n}")
        r.zadd(f"z{n}", {f"m{rng.randrange(30)}": rng.random() * 100})
        r.zincrby(f"z{n}", 0.1, f"m{rng.randrange(30)}")
        r.rpush(f"l{n}", i, i + 1)
        r.lpop(f"l{n}")
        if i % 10 == 0:
            r.hdel(f"h{n}", "name")
            r.srem(f"s{n}", f"m{i}")
            r.zremrangebyscore(f"z{n}", 0, 10)
            r.ltrim(f"l{n}", 0, 5)
            r.linsert(f"l{n}", "BEFORE", str(i + 1), "ins")
            r.lrem(f"l{n}", 0, "ins")
            r.sinterstore("inter", [f"s{n}", f"s{(n + 1) % 20}"])
            r.sunionstore("union", [f"s{n}", "union"])
            r.zrangestore("top", f"z{n}", 0, 2)
            r.smove(f"s{n}", "moved", rng.choice(["1", "2", "3"]))
            r.lmove(f"l{n}", "moved-list", "LEFT", "RIGHT")
            r.zpopmin(f"z{n}")
            r.expire(f"h{n}", 3600 + i)
            r.spop(f"s{(n + 7) % 20}", 2)
    r.delete("s3")  # gone stays gone
    r.rpush("emptied", "x")
    r.rpop("emptied")


def snapshot_after_restart(spawn: Spawn, data_dir: Path, pattern: str = "*") -> Snapshot:
    restarted = spawn(data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    try:
        return snapshot(r, pattern)
    finally:
        r.close()


@pytest.mark.slow
def test_every_type_survives_kill_9(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "types"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    workload(r, seed=1)
    served: list[object] = []
    waiter = redis.Redis(port=server.port)
    thread = threading.Thread(target=lambda: served.append(waiter.blpop(["queue"], timeout=0)))
    thread.start()
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1)
    r.rpush("queue", "a", "b")  # BLPOP takes "a": the log must say so
    thread.join(10)
    assert served == [(b"queue", b"a")]
    before = snapshot(r)
    assert {kind for kind, _, _ in before.values()} == {b"hash", b"set", b"zset", b"list"}
    r.close()
    waiter.close()
    server.kill9()
    assert snapshot_after_restart(spawn, data_dir) == before


@pytest.mark.slow
def test_rewrite_writes_each_container_compactly(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "compact"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    workload(r, seed=2)
    r.hset("wide", mapping={f"f{i}": i for i in range(2000)})
    r.zadd("ranked", {f"m{i}": i / 7 for i in range(2000)})
    r.sadd("members", *range(2000))
    r.rpush("queue", *range(2000))
    before = snapshot(r)
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    r.close()
    server.kill9()
    records = [
        record
        for _, payload in FrameScanner((data_dir / "appendonly.aof").read_bytes())
        for record in decode_payload(payload)
    ]
    # one record per key, one per 512 elements of the wide ones, and one PEXPIREAT per deadline
    expiring = sum(1 for _, _, deadline in before.values() if deadline != -1)
    assert len(records) == len(before) + 4 * 3 + expiring
    assert snapshot_after_restart(spawn, data_dir) == before


@pytest.mark.slow
def test_container_writes_during_a_rewrite_are_kept(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "during"
    server = spawn("--appendfsync", "everysec", data_dir=data_dir)
    r = redis.Redis(port=server.port)
    load_keys(server.port, 100_000, int(time.time() * 1000) + 3_600_000)  # makes the rewrite take a while
    workload(r, seed=3, rounds=100)
    assert r.bgrewriteaof()
    seed = 4
    while r.info("persistence")["aof_rewrite_in_progress"]:
        workload(r, seed=seed, rounds=5)  # mutates containers the dump may or may not have reached
        seed += 1
    assert seed > 4, "the rewrite finished before any write could overlap it"
    before = snapshot(r, "[^k]*")  # the containers; the filler strings are test_durability's business
    r.close()
    server.kill9()
    after = snapshot_after_restart(spawn, data_dir, "[^k]*")
    assert after == before
