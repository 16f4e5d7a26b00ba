"""Streams end to end: blocking reads (kvserver and redis-server side by side), a redis-py
consumer-group flow, and kill -9 / rewrite / replay keeping the same ids, groups and PEL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.test_notifications import run_script
from tests.support import ServerProcess, command, export_into_redis, redis_server_process, wait_for

Spawn = Callable[..., ServerProcess]

SERVERS = ["kvserver", "redis"]


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, kv_server: ServerProcess, real_redis: ServerProcess) -> ServerProcess:
    return kv_server if request.param == "kvserver" else real_redis


def client(server: ServerProcess, protocol: int = 2) -> redis.Redis:
    r = redis.Redis(port=server.port, protocol=protocol, socket_timeout=10)
    return r


def in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run a blocking call in a thread; its result (or exception) lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(function())
        except Exception as exc:  # the error reply is the result under test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def blocked_clients(r: redis.Redis, count: int) -> Callable[[], bool]:
    return lambda: int(r.info("clients")["blocked_clients"]) == count


def test_xadd_star_ids_are_ms_dash_seq_and_increase(server: ServerProcess) -> None:
    r = client(server)
    r.delete("s")
    ids: list[bytes] = [r.xadd("s", {"f": "v"}) for _ in range(50)]  # type: ignore[misc]
    assert all(re.fullmatch(rb"\d+-\d+", i) for i in ids)
    parsed = [tuple(map(int, i.split(b"-"))) for i in ids]
    assert parsed == sorted(set(parsed))
    r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocked_xread_waiters_are_all_woken_without_consuming(server: ServerProcess, protocol: int) -> None:
    r = client(server, protocol)
    r.delete("s")
    r.xadd("s", {"old": "1"}, id="1-1")
    readers = [client(server, protocol) for _ in range(3)]
    started = [in_thread(partial(c.xread, {"s": "$"}, block=0)) for c in readers]
    wait_for(blocked_clients(r, 3))
    r.xadd("s", {"new": "2"}, id="2-1")
    for thread, _ in started:
        thread.join(10)
    replies = [out[0] for _, out in started]
    expected_entry = [(b"2-1", {b"new": b"2"})]
    for reply in replies:
        if protocol == 2:
            assert reply == [[b"s", expected_entry]]
        else:
            assert reply == {b"s": [expected_entry]}
    assert r.xlen("s") == 2
    for c in readers:
        c.close()
    r.close()


def test_blocked_xread_times_out_with_a_null_and_other_keys_do_not_wake_it(server: ServerProcess) -> None:
    r = client(server)
    r.delete("s", "other")
    reader = client(server)
    thread, out = in_thread(lambda: reader.xread({"s": "$"}, block=300))
    wait_for(blocked_clients(r, 1))
    r.xadd("other", {"f": "v"}, id="1-1")
    thread.join(10)
    assert out == [[]]  # the null array (redis-py turns it into []); served, it would hold "s"
    reader.close()
    r.close()


def blocked_in_group(server: ServerProcess) -> tuple[redis.Redis, redis.Redis, threading.Thread, list[Any]]:
    """A group "g" on an empty stream "s" and a reader blocked in XREADGROUP on it: (client,
    reader, its thread, where its reply lands)."""
    r = client(server)
    r.delete("s")
    r.xgroup_create("s", "g", id="$", mkstream=True)
    r.config_resetstat()
    reader = client(server)
    thread, out = in_thread(lambda: reader.xreadgroup("g", "alice", {"s": ">"}, block=0))
    wait_for(blocked_clients(r, 1))
    return r, reader, thread, out


def test_blocked_xreadgroup_gets_nogroup_when_its_group_is_destroyed(server: ServerProcess) -> None:
    r, reader, thread, out = blocked_in_group(server)
    r.xgroup_destroy("s", "g")
    thread.join(10)
    assert isinstance(out[0], redis.ResponseError)
    assert str(out[0]) == "NOGROUP the consumer group this client was blocked on no longer exists"
    assert r.info("errorstats")["errorstat_NOGROUP"] == {"count": 1}  # counted as an error reply
    reader.close()
    r.close()


@pytest.mark.parametrize(
    "removal", [("DEL", "s"), ("SET", "s", "string"), ("FLUSHALL",), ("SWAPDB", "0", "1")], ids=lambda c: c[0]
)
def test_blocked_xreadgroup_is_unblocked_when_its_key_goes(server: ServerProcess, removal: tuple[str, ...]) -> None:
    r, reader, thread, out = blocked_in_group(server)
    command(r, "SELECT", "1")
    command(r, "FLUSHDB")
    command(r, "SELECT", "0")
    command(r, *removal)
    thread.join(10)
    assert isinstance(out[0], redis.ResponseError)
    assert "the stream key no longer exists" in str(out[0])
    command(r, "FLUSHALL")
    reader.close()
    r.close()


def test_blocked_xreadgroup_consumers_share_new_entries(server: ServerProcess) -> None:
    r = client(server)
    r.delete("s")
    r.xgroup_create("s", "g", id="$", mkstream=True)
    readers = [client(server) for _ in range(2)]
    started = [
        in_thread(partial(c.xreadgroup, "g", f"c{n}", {"s": ">"}, count=1, block=0)) for n, c in enumerate(readers)
    ]
    wait_for(blocked_clients(r, 2))
    r.xadd("s", {"f": "1"}, id="1-1")
    wait_for(blocked_clients(r, 1))
    r.xadd("s", {"f": "2"}, id="2-1")
    for thread, _ in started:
        thread.join(10)
    got = sorted(out[0][0][1][0][0] for _, out in started)
    assert got == [b"1-1", b"2-1"]
    assert r.xpending("s", "g")["pending"] == 2
    for c in readers:
        c.close()
    r.close()


def test_a_redis_py_consumer_group_flow(server: ServerProcess) -> None:
    r = client(server)
    r.delete("jobs")
    r.xgroup_create("jobs", "workers", id="0", mkstream=True)
    for n in range(10):
        r.xadd("jobs", {"job": n}, maxlen=1000, approximate=True)
    batch: Any = r.xreadgroup("workers", "w1", {"jobs": ">"}, count=4, block=100)
    ids = [entry_id for entry_id, _ in batch[0][1]]
    assert len(ids) == 4
    assert r.xack("jobs", "workers", *ids[:2]) == 2
    assert r.xpending("jobs", "workers")["pending"] == 2
    autoclaimed: Any = r.xautoclaim("jobs", "workers", "w2", min_idle_time=0, start_id="0-0")
    next_id, claimed, deleted = autoclaimed
    assert [entry_id for entry_id, _ in claimed] == ids[2:]
    assert deleted == []
    assert next_id == b"0-0"
    info = r.xinfo_groups("jobs")[0]
    assert info["name"] == b"workers"
    assert info["pending"] == 2
    assert info["lag"] == 6
    r.close()


@pytest.mark.slow
def test_streams_survive_kill9_and_a_rewrite_with_the_same_ids_groups_and_pel(
    spawn: Spawn, tmp_path: Path, real_redis: ServerProcess
) -> None:
    data_dir = tmp_path / "streams"
    server = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=server.port)
    ids = [r.xadd("s", {"n": i}, maxlen=150, approximate=True) for i in range(300)]
    r.xgroup_create("s", "g", id="0")
    r.xreadgroup("g", "alice", {"s": ">"}, count=20)
    r.xreadgroup("g", "bob", {"s": ">"}, count=5, noack=True)
    r.xack("s", "g", ids[-300 + 160], ids[-300 + 161])
    r.xclaim("s", "g", "carol", 0, [ids[-300 + 165]])
    r.xdel("s", ids[-300 + 166])
    r.xtrim("s", maxlen=120, approximate=True)
    r.xgroup_create("empty", "g", id="$", mkstream=True)

    def state(r: redis.Redis) -> list[Any]:
        groups = r.xinfo_groups("s")
        pending = r.xpending_range("s", "g", "-", "+", 100)
        return [
            r.xrange("s"),
            r.xinfo_stream("s")["last-generated-id"],
            r.xinfo_stream("s")["entries-added"],
            r.xinfo_stream("s")["max-deleted-entry-id"],
            groups,
            [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending],
            r.xinfo_groups("empty"),
        ]

    before = state(r)
    r.close()
    server.kill9()
    replayed = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=replayed.port)
    assert state(r) == before
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    r.close()
    replayed.kill9()
    rewritten = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=rewritten.port)
    assert state(r) == before
    r.close()
    rewritten.terminate()
    exported = export_into_redis(data_dir, real_redis.port)  # the same commands rebuild it in Redis
    assert state(exported) == before
    exported.flushall()
    exported.close()
    again = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=again.port)
    nxt: bytes = r.xadd("s", {"n": "after"})  # type: ignore[assignment]
    assert nxt > before[1]
    r.close()


STREAM_EVENTS = [
    "XADD s 1-1 a 1",
    "XADD s MAXLEN 1 2-1 b 2",
    "XADD s NOMKSTREAM 3-1 c 3",
    "XADD nokey NOMKSTREAM 3-1 c 3",
    "XTRIM s MAXLEN 0",
    "XTRIM s MAXLEN 0",
    "XADD s 4-1 d 4",
    "XDEL s 4-1",
    "XDEL s 4-1",
    "XSETID s 9-9",
    "XGROUP CREATE s g $",
    "XGROUP CREATE t g $ MKSTREAM",
    "XGROUP CREATECONSUMER s g alice",
    "XGROUP CREATECONSUMER s g alice",
    "XADD s 10-1 e 5",
    "XREADGROUP GROUP g bob STREAMS s >",
    "XCLAIM s g carol 0 10-1",
    "XAUTOCLAIM s g dave 0 0",
    "XACK s g 10-1",
    "XGROUP SETID s g 0",
    "XGROUP DELCONSUMER s g bob",
    "XGROUP DELCONSUMER s g nobody",
    "XGROUP DESTROY s g",
    "DEL s",
]


def test_stream_commands_publish_what_redis_publishes(spawn: Spawn, tmp_path: Path) -> None:
    reference = redis_server_process(tmp_path / "redis", "--notify-keyspace-events", "KEA").start()
    try:
        theirs = run_script(reference.port, STREAM_EVENTS)
    finally:
        reference.terminate()
    server = spawn("--appendonly", "no", "--notify-keyspace-events", "KEA")
    ours = run_script(server.port, STREAM_EVENTS)
    assert [(step, mine) for (step, mine), (_, other) in zip(ours, theirs, strict=True) if mine != other] == []
    assert (b"__keyspace@0__:s", b"xgroup-createconsumer") in dict(ours)["XREADGROUP GROUP g bob STREAMS s >"]
