"""SORT / SORT_RO and DUMP / RESTORE against a real redis-server, and across kill -9.

- every SORT option, reply for reply with Redis, RESP2 and RESP3;
- DUMP from kvserver -> RESTORE into redis-server -> DUMP from redis-server -> RESTORE into
  kvserver gives the same value, for every type in each of its encodings and several sizes,
  Redis's compressed payloads included; with ``rdbcompression no`` the payloads of lists,
  intsets, strings and listpack hashes / sorted sets are Redis's bytes exactly;
- keys created by RESTORE and SORT ... STORE survive kill -9 and a rewrite, TTLs included.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.e2e.test_notifications import MARKER, open_pubsub, run_script, until_marker
from tests.e2e.test_types_durability import snapshot
from tests.support import ServerProcess, assert_same_replies, redis_server_process, wait_for

Spawn = Callable[..., ServerProcess]
Reader = Callable[[redis.Redis, Any], object]  # a key's value as a client reads it

SORT_SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("RPUSH", "l", "3", "1", "2", "10", "2.5", "-1", "1e3", "0x10", " 7", "-inf"),
    ("SORT", "l"),
    ("SORT", "l", "DESC"),
    ("SORT", "l", "ALPHA"),
    ("SORT", "l", "ALPHA", "DESC", "LIMIT", "1", "3"),
    ("SORT", "l", "LIMIT", "0", "-1"),
    ("SORT", "l", "LIMIT", "-5", "2"),
    ("SORT", "l", "LIMIT", "100", "2"),
    ("SORT", "l", "LIMIT", "2", "0"),
    ("SORT", "l", "LIMIT", "9223372036854775807", "9223372036854775807"),
    ("SORT", "l", "BY", "nosort"),
    ("SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"),
    ("SORT", "l", "BY", "nosort", "ASC", "DESC", "ASC"),
    ("MSET", "w_3", "5", "w_1", "5", "w_2", "1", "w_10", "abc", "w_-1", "-3"),
    ("SORT", "l", "BY", "w_*", "ALPHA"),
    ("SORT", "l", "BY", "w_*", "ALPHA", "DESC"),
    ("SORT", "l", "BY", "w_*"),
    ("SET", "w_10", "5"),
    ("SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*"),
    ("SORT", "l", "BY", "w_*", "DESC", "LIMIT", "2", "4"),
    ("HSET", "h_3", "f", "9"),
    ("HSET", "h_1", "f", "1"),
    ("SORT", "l", "BY", "h_*->f", "GET", "h_*->f", "GET", "#"),
    ("SORT", "l", "GET", "h_*->"),
    ("SORT", "l", "GET", "nostar"),
    ("SORT", "l", "STORE", "dst"),
    ("LRANGE", "dst", "0", "-1"),
    ("SORT", "l", "BY", "nosort", "GET", "w_*", "STORE", "dst"),
    ("LRANGE", "dst", "0", "-1"),
    ("SET", "dst", "overwritten", "EX", "100"),
    ("SORT", "l", "LIMIT", "0", "2", "STORE", "dst"),
    ("TTL", "dst"),
    ("TYPE", "dst"),
    ("SORT", "nosuch", "STORE", "dst"),
    ("EXISTS", "dst"),
    ("SORT", "nosuch"),
    ("SADD", "s", "5", "3", "9", "1"),
    ("SORT", "s"),
    ("SORT", "s", "BY", "nosort"),
    ("SORT", "s", "BY", "nosort", "STORE", "dst2"),
    ("LRANGE", "dst2", "0", "-1"),
    ("SADD", "words", "pear", "apple", "fig"),
    ("SORT", "words", "ALPHA"),
    ("SORT", "words"),
    ("SORT", "words", "BY", "nosort", "STORE", "dst3"),
    ("LRANGE", "dst3", "0", "-1"),
    ("ZADD", "z", "3", "a", "1", "b", "2", "c", "5", "d"),
    ("SORT", "z", "BY", "nosort"),
    ("SORT", "z", "BY", "nosort", "DESC"),
    ("SORT", "z", "BY", "nosort", "LIMIT", "1", "2"),
    ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "2"),
    ("SORT", "z", "ALPHA"),
    ("SORT", "z"),
    ("SORT_RO", "z", "ALPHA", "DESC"),
    ("SET", "str", "x"),
    ("SORT", "str"),
    ("SORT", "l", "foo"),
    ("SORT", "l", "LIMIT", "1"),
    ("SORT", "l", "LIMIT", "a", "1"),
    ("SORT", "l", "LIMIT", "1", "b"),
    ("SORT", "l", "BY"),
    ("SORT", "l", "STORE"),
    ("SORT_RO", "l", "STORE", "x"),
    ("SORT_RO", "l", "BY", "w_*", "GET", "#"),
    ("SORT",),
    ("COMMAND", "GETKEYS", "SORT", "abc", "STORE", "def"),
    ("COMMAND", "GETKEYS", "SORT_RO", "abc"),
    ("COMMAND", "GETKEYS", "SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def"),
    ("COMMAND", "GETKEYS", "SORT", "abc", "BY", "x", "GET", "y", "LIMIT", "1", "2"),
    ("COMMAND", "GETKEYS", "SORT", "abc", "LIMIT", "STORE", "a", "b"),
    ("COMMAND", "GETKEYS", "SORT", "abc", "STORE"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_sort_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SORT_SCRIPT)


DUMP_ERRORS: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("SET", "k", "v"),
    ("DUMP", "nosuch"),
    ("DUMP",),
    ("RESTORE", "k", "0"),
    ("RESTORE", "n", "0", "junk"),
    ("RESTORE", "k", "0", "junk"),
    ("RESTORE", "n", "-1", "junk"),
    ("RESTORE", "n", "x", "junk"),
    ("RESTORE", "n", "0", "junk", "BOGUS"),
    ("RESTORE", "n", "0", "junk", "IDLETIME"),
    ("RESTORE", "n", "0", "junk", "IDLETIME", "-1"),
    ("RESTORE", "n", "0", "junk", "IDLETIME", "x"),
    ("RESTORE", "n", "0", "junk", "FREQ", "256"),
    ("RESTORE", "n", "0", "junk", "FREQ", "-1"),
    ("RESTORE", "n", "0", "junk", "FREQ", "1", "IDLETIME", "1"),
    ("RESTORE", "n", "0", "junk", "IDLETIME", "1", "FREQ", "1"),
    ("RESTORE", "n", "0", "0123456789abcdef", "REPLACE", "ABSTTL"),
    # payloads small enough that Redis's LZF (rdbcompression yes) leaves them alone
    ("DUMP", "k"),
    ("SET", "n", "-123456"),
    ("DUMP", "n"),
    ("RPUSH", "l", "a", "1", "-5000"),
    ("DUMP", "l"),
    ("HSET", "h", "f", "v"),
    ("DUMP", "h"),
    ("ZADD", "z", "1", "a", "2.5", "b"),
    ("DUMP", "z"),
    ("SADD", "s", "3", "-7", "70000"),
    ("DUMP", "s"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_dump_and_restore_errors_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, DUMP_ERRORS)


def build_every_encoding(r: redis.Redis, seed: int) -> None:
    """Each type in each of its encodings, at several sizes."""
    rng = random.Random(seed)
    r.flushall()
    for i, value in enumerate(["hello", "12345", "-129", "4294967296", "x" * 100, "007", "-2147483648", "ab" * 5000]):
        r.set(f"str:{i}", value)
    r.set("str:ttl", "v", px=500_000)
    r.rpush("list:mixed", "a", "1", "-5000", "70000", "9999999999", "x" * 70, "y" * 5000)
    r.rpush("list:ints", *[rng.randrange(10**6) for _ in range(3000)])
    r.rpush("list:long", *["v" * rng.randrange(1, 300) for _ in range(500)])
    r.sadd("set:int16", 1, 2, 3, -7)
    r.sadd("set:int32", 1, 70000)
    r.sadd("set:int64", 1, 2**40)
    r.sadd("set:strings", "a", "b")
    r.sadd("set:big", *range(600))
    r.sadd("set:bigwords", *[f"w{i}" for i in range(2000)])
    r.hset("hash:small", mapping={"f1": "v1", "f2": "123", "f3": "x" * 64})
    r.hset("hash:wide", mapping={f"f{i}": f"v{i}" for i in range(600)})
    r.hset("hash:longvalue", mapping={"big": "x" * 65})
    r.zadd("zset:small", {"a": 1, "b": 2.5, "c": -3, "d": 1e20, "e": float("inf"), "f": 2**62, "g": -0.1})
    r.zadd("zset:big", {f"m{i}": rng.random() * 100 for i in range(200)})
    r.zadd("zset:longmember", {"x" * 65: 1})
    r.expire("zset:big", 1000)


def read_value(r: redis.Redis, key: bytes) -> object:
    kind = cast(bytes, r.type(key))
    readers: dict[bytes, Callable[[bytes], object]] = {
        b"string": r.get,
        b"list": lambda k: r.lrange(k, 0, -1),
        b"set": lambda k: sorted(cast(set[bytes], r.smembers(k))),
        b"hash": r.hgetall,
        b"zset": lambda k: r.zrange(k, 0, -1, withscores=True),
    }
    return kind, readers[kind](key)


@pytest.fixture
def uncompressed_redis(tmp_path: Path) -> Iterator[ServerProcess]:
    """A redis-server writing DUMP payloads without LZF (as kvserver does), for byte comparisons."""
    server = redis_server_process(tmp_path / "redis-nolzf", "--rdbcompression", "no").start()
    yield server
    server.terminate()


@pytest.mark.external
def test_dump_restore_round_trips_through_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    kv, rs = redis.Redis(port=kv_server.port), redis.Redis(port=real_redis.port)
    build_every_encoding(kv, seed=1)
    rs.flushall()
    keys = sorted(cast(list[bytes], kv.keys("*")))
    assert len(keys) == 24
    for key in keys:
        ttl = kv.pttl(key)
        rs.restore(key, max(ttl, 0), cast(bytes, kv.dump(key)))  # kvserver -> Redis
        kv.restore(b"back:" + key, 0, cast(bytes, rs.dump(key)))  # Redis (LZF and all) -> kvserver
        assert read_value(rs, key) == read_value(kv, key) == read_value(kv, b"back:" + key), key
        if ttl > 0:
            assert 0 < rs.pttl(key) <= ttl
    # and Redis's own data, built there, comes over whole
    build_every_encoding(rs, seed=2)
    assert_restores_from_redis(kv, rs, keys, read_value)


def assert_restores_from_redis(kv: redis.Redis, rs: redis.Redis, keys: list[Any], read: Reader) -> None:
    """Each key DUMPed from Redis RESTOREs into an emptied kvserver with the same value."""
    kv.flushall()
    for key in keys:
        kv.restore(key, 0, cast(bytes, rs.dump(key)))
        assert read(kv, key) == read(rs, key), key


@pytest.mark.external
def test_dump_payloads_are_redis_bytes(kv_server: ServerProcess, uncompressed_redis: ServerProcess) -> None:
    kv, rs = redis.Redis(port=kv_server.port), redis.Redis(port=uncompressed_redis.port)
    build_every_encoding(kv, seed=3)
    build_every_encoding(rs, seed=3)
    differ = [key for key in sorted(cast(list[bytes], kv.keys("*"))) if kv.dump(key) != rs.dump(key)]
    # hash tables iterate in another order than Redis's dict: same values, other bytes (a
    # two-member set may come out in Redis's order by chance); every other payload is Redis's
    assert set(differ) <= {b"hash:wide", b"set:big", b"set:bigwords", b"set:strings"}
    assert {b"hash:wide", b"set:big", b"set:bigwords"} <= set(differ)


@pytest.mark.external
def test_restore_of_configured_encodings(kv_server: ServerProcess, uncompressed_redis: ServerProcess) -> None:
    """DUMP follows the encoding configs as Redis does (list node size, listpack limits)."""
    kv, rs = redis.Redis(port=kv_server.port), redis.Redis(port=uncompressed_redis.port)
    settings = {"list-max-listpack-size": "5", "zset-max-listpack-entries": "4", "hash-max-listpack-value": "3"}
    try:
        for r in (kv, rs):
            r.flushall()
            for name, value in settings.items():
                r.config_set(name, value)
            r.rpush("l", *range(23))
            r.zadd("z", {"a": 1, "b": 2, "c": 3})
            r.hset("h", mapping={"f": "abc"})
        assert [kv.dump(k) for k in ("l", "z", "h")] == [rs.dump(k) for k in ("l", "z", "h")]
    finally:
        defaults = {"list-max-listpack-size": "-2", "zset-max-listpack-entries": "128", "hash-max-listpack-value": "64"}
        for r in (kv, rs):
            for name, value in defaults.items():
                r.config_set(name, value)


@pytest.mark.slow
def test_restored_and_sorted_keys_survive_kill_9_and_a_rewrite(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "restore"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    build_every_encoding(r, seed=4)
    payloads = {key: cast(bytes, r.dump(key)) for key in cast(list[bytes], r.keys("*"))}
    for key, payload in payloads.items():
        r.restore(b"copy:" + key, 600_000 if key.startswith(b"hash") else 0, payload)
        r.restore(key, 0, payload, replace=True)
    r.rpush("src", *range(1500))
    r.sort("src", desc=True, store="sorted")
    r.sort("src", start=10, num=5, store="window")
    before = snapshot(r)
    assert len(before) == 2 * len(payloads) + 3
    r.close()
    server.kill9()

    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    assert snapshot(r) == before
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    r.close()
    server.kill9()

    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    assert snapshot(r) == before
    r.close()


def restore_events(port: int) -> list[tuple[bytes, bytes]]:
    """The notifications of RESTORE, RESTORE ... REPLACE, and a REPLACE with a deadline passed."""
    r = redis.Redis(port=port)
    r.set("s", "v")
    payload = cast(bytes, r.dump("s"))
    pubsub = open_pubsub(r)
    pubsub.psubscribe("__key*__:t")
    pubsub.subscribe(MARKER)
    wait_for(lambda: r.pubsub_numsub(MARKER) == [(MARKER, 1)])
    r.restore("t", 0, payload)
    r.restore("t", 0, payload, replace=True)
    r.restore("t", 1, payload, replace=True, absttl=True)
    r.publish(MARKER, b"")
    events = until_marker(pubsub)
    pubsub.close()
    r.close()
    return events


@pytest.mark.external
def test_sort_store_and_restore_notify_as_redis(spawn: Spawn, tmp_path: Path) -> None:
    reference = redis_server_process(tmp_path / "redis", "--notify-keyspace-events", "KEAn").start()
    try:
        server = spawn("--appendonly", "no", "--notify-keyspace-events", "KEAn")
        script = ["RPUSH l 2 1", "SORT l STORE d", "SORT l STORE d", "SORT nosuch STORE d", "SORT nosuch STORE d"]
        assert run_script(server.port, script) == run_script(reference.port, script)
        assert restore_events(server.port) == restore_events(reference.port)
        assert (b"__keyspace@0__:t", b"restore") in restore_events(server.port)
    finally:
        reference.terminate()


def build_streams(r: redis.Redis, seed: int) -> list[str]:
    """Streams with several nodes, other-field entries, groups, PEL, consumers, deletions and trims."""
    rng = random.Random(seed)
    r.flushall()
    for i in range(1, 400):
        fields: dict[
            bytes | bytearray | memoryview | str | int | float, bytes | bytearray | memoryview | str | int | float
        ] = {"f": i, "g": "v" * rng.randrange(60)} if i % 9 else {"other": "x" * rng.randrange(200)}
        r.xadd("s:plain", fields, id=f"{1000 + i // 4}-{i}")
        r.xadd("s:groups", fields, id=f"{1000 + i // 4}-{i}")
        r.xadd("s:cut", fields, id=f"{1000 + i // 4}-{i}")
    r.xadd("s:one", {"a": "1"}, id="5-1")
    r.xgroup_create("s:groups", "g1", id="0")
    r.xgroup_create("s:groups", "g2", id="$")
    r.xreadgroup("g1", "alice", {"s:groups": ">"}, count=5)
    r.xreadgroup("g1", "bob", {"s:groups": ">"}, count=3)
    r.xreadgroup("g1", "carol", {"s:groups": ">"}, count=1, noack=True)
    r.xack("s:groups", "g1", "1001-4")
    r.xdel("s:groups", "1000-2")  # a pending entry deleted
    r.xgroup_createconsumer("s:groups", "g2", "idle")
    r.xdel("s:cut", "1000-1", "1010-40", "1099-399")
    r.xtrim("s:cut", maxlen=300, approximate=False)
    r.xtrim("s:cut", maxlen=150, approximate=True)
    r.xgroup_create("s:empty", "g", id="$", mkstream=True)
    return ["s:cut", "s:empty", "s:groups", "s:one", "s:plain"]


def stream_state(r: redis.Redis, key: str) -> object:
    info = cast(dict[str, object], r.xinfo_stream(key, full=True))
    info.pop("radix-tree-nodes")  # the radix tree's inner nodes: kvserver keeps none
    return info


@pytest.mark.external
def test_stream_dump_restore_round_trips_through_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    kv, rs = redis.Redis(port=kv_server.port), redis.Redis(port=real_redis.port)
    keys = build_streams(kv, seed=4)
    rs.flushall()
    for key in keys:
        rs.restore(key, 0, cast(bytes, kv.dump(key)))  # kvserver -> Redis
        kv.restore("back:" + key, 0, cast(bytes, rs.dump(key)))  # Redis (LZF) -> kvserver
        assert stream_state(kv, key) == stream_state(rs, key) == stream_state(kv, "back:" + key), key
        kv.xadd("back:" + key, {"n": "1"}, id="2000-*", maxlen=100, approximate=True)  # the nodes go on as Redis's
        rs.xadd(key, {"n": "1"}, id="2000-*", maxlen=100, approximate=True)
        assert stream_state(kv, "back:" + key) == stream_state(rs, key), key
    # Redis's own streams come over whole
    build_streams(rs, seed=5)
    assert_restores_from_redis(kv, rs, keys, stream_state)


@pytest.mark.external
def test_stream_payloads_are_redis_bytes(kv_server: ServerProcess, uncompressed_redis: ServerProcess) -> None:
    """Where nothing was deleted and nothing holds a time, the nodes split as Redis's and the
    payload is Redis's byte for byte."""
    kv, rs = redis.Redis(port=kv_server.port), redis.Redis(port=uncompressed_redis.port)
    for r in (kv, rs):
        build_streams(r, seed=6)
    assert kv.dump("s:plain") == rs.dump("s:plain")
    assert kv.dump("s:one") == rs.dump("s:one")
    assert kv.dump("s:empty") == rs.dump("s:empty")


def replayed_stream_state(r: redis.Redis, key: str) -> object:
    """stream_state without what replay rebuilds its own way: the node count (the log's XADDs
    fill nodes afresh) and the consumers' seen times (XGROUP CREATECONSUMER sets them)."""
    info = cast(dict[str, object], stream_state(r, key))
    info.pop("radix-tree-keys")
    for group in cast(list[dict[str, object]], info["groups"]):
        for consumer in cast(list[dict[bytes, object]], group["consumers"]):
            consumer.pop(b"seen-time")
    return info


@pytest.mark.slow
def test_restored_streams_survive_kill_9_and_a_rewrite(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "streams"
    server = spawn(data_dir=data_dir)
    r = redis.Redis(port=server.port)
    keys = build_streams(r, seed=7)
    for key in keys:
        r.restore("copy:" + key, 0, cast(bytes, r.dump(key)))
    before = {key: replayed_stream_state(r, "copy:" + key) for key in keys}
    assert before == {key: replayed_stream_state(r, key) for key in keys}
    r.close()
    server.kill9()
    for ms, rewrite in ((2000, True), (2001, False)):
        server = spawn(data_dir=data_dir)
        r = redis.Redis(port=server.port)
        assert {key: replayed_stream_state(r, "copy:" + key) for key in keys} == before
        assert r.xadd("copy:s:groups", {"n": "1"}, id=f"{ms}-*") == b"%d-0" % ms  # the ids go on
        r.xdel("copy:s:groups", f"{ms}-0")
        before["s:groups"] = replayed_stream_state(r, "copy:s:groups")
        if rewrite:
            assert r.bgrewriteaof()
            wait_for(lambda r=r: r.info("persistence")["aof_rewrites"] == 1)  # type: ignore[misc]
        r.close()
        server.kill9()
