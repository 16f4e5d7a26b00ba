"""Heavy-but-legal commands, run against kvserver and redis-server side by side while a PING client watches.

Each command in the catalogue is something a buggy or hostile client can send: patterns that make a
naive glob backtrack, huge or negative counts, offsets at the edges of int64, big keys during a log
rewrite. Each must either be bounded the way Redis bounds it or be refused with Redis's own error;
the other clients must not notice. The table printed with ``-s`` shows both servers' times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import TIMING_SENSITIVE, Pinger, ServerProcess, call, kvserver_process, redis_server_process

pytestmark = [pytest.mark.slow, pytest.mark.external, TIMING_SENSITIVE]

N = 100_000
BACKTRACK = b"a*a*a*a*a*a*a*a*a*a*a*a*b"
I64_MAX = b"9223372036854775807"
I64_MIN = b"-9223372036854775808"

CATALOGUE: list[tuple[bytes, ...]] = [
    (b"KEYS", BACKTRACK),
    (b"KEYS", b"*" * 64 + b"b"),
    (b"SCAN", b"0", b"MATCH", BACKTRACK, b"COUNT", b"1000"),
    (b"SSCAN", b"set", b"0", b"MATCH", BACKTRACK, b"COUNT", b"1000"),
    (b"HSCAN", b"hash", b"0", b"MATCH", BACKTRACK, b"COUNT", b"1000"),
    (b"ZSCAN", b"zset", b"0", b"MATCH", BACKTRACK, b"COUNT", b"1000"),
    (b"CONFIG", b"GET", b"a*a*a*a*a*a*a*a*a*a*a*a*a*b"),
    (b"SCAN", b"9" * 5000),
    (b"SCAN", b"0", b"COUNT", I64_MAX),
    (b"SRANDMEMBER", b"set", b"-50000"),
    (b"SRANDMEMBER", b"set", I64_MIN),
    (b"SRANDMEMBER", b"set", b"1"),
    (b"SPOP", b"set"),
    (b"HRANDFIELD", b"hash", b"-50000", b"WITHVALUES"),
    (b"HRANDFIELD", b"hash", I64_MIN, b"WITHVALUES"),
    (b"HRANDFIELD", b"hash"),
    (b"ZRANDMEMBER", b"zset", b"-50000", b"WITHSCORES"),
    (b"ZRANDMEMBER", b"zset", I64_MIN, b"WITHSCORES"),
    (b"RANDOMKEY",),
    (b"LTRIM", b"list", b"1", b"-2"),
    (b"LRANGE", b"list", I64_MIN, I64_MAX),
    (b"LINDEX", b"list", I64_MAX),
    (b"ZRANGE", b"zset", b"0", I64_MAX, b"LIMIT", b"0", b"10"),
    (b"GETRANGE", b"str", b"0", I64_MAX),
    (b"SETRANGE", b"str", I64_MAX, b"x"),
    (b"SETRANGE", b"str", b"536870912", b"x"),
    (b"APPEND", b"str", b"x" * 1024),
    (b"EXPIRE", b"str", I64_MAX),
    (b"INCRBYFLOAT", b"f", b"1e1000000"),
    (b"SADD", b"bigint", b"9" * 5000),
    (b"SMEMBERS", b"bigint"),
]


def load(client: redis.Redis) -> None:
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for start in range(0, N, 10_000):
        members = [b"m%d" % i for i in range(start, start + 10_000)]
        pipe.sadd(b"set", *members)
        pipe.hset(b"hash", mapping=dict.fromkeys(members, b"v"))
        pipe.zadd(b"zset", {m: i for i, m in enumerate(members, start)})
        pipe.rpush(b"list", *members)
        pipe.mset({b"key:%d" % i: b"v" for i in range(start, start + 1000)})
        pipe.execute()
    client.set(b"a" * 40, b"v")
    client.set(b"str", b"s" * (1 << 20))


def run(client: redis.Redis, argv: tuple[bytes, ...]) -> tuple[str, float]:
    """What the command answered (the error text, or its reply's kind) and how long it took."""
    conn = client.connection_pool.get_connection()
    start = time.perf_counter()
    try:
        call(conn.send_command, *argv)
        reply: object = conn.read_response()
        outcome = type(reply).__name__
    except redis.ResponseError as exc:
        outcome = "error: " + str(exc)
    finally:
        client.connection_pool.release(conn)
    return outcome, time.perf_counter() - start


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base: Path = tmp_path_factory.mktemp("guard")
    kv = kvserver_process(base / "kv", "--appendfsync", "everysec").start()
    real = redis_server_process(base / "redis", "--appendonly", "yes", "--appendfsync", "everysec").start()
    yield kv, real
    kv.terminate()
    real.terminate()


def test_heavy_commands_are_bounded_like_redis(servers: tuple[ServerProcess, ServerProcess]) -> None:
    kv_server, redis_server = servers
    kv = redis.Redis(port=kv_server.port, socket_timeout=60)
    real = redis.Redis(port=redis_server.port, socket_timeout=60)
    load(kv)
    load(real)
    pinger = Pinger(kv_server.port)
    rows = []
    try:
        for argv in CATALOGUE:
            kv_outcome, kv_time = run(kv, argv)
            real_outcome, real_time = run(real, argv)
            rows.append((argv, kv_outcome, kv_time, real_outcome, real_time))
        # a big-key rewrite with writes to those keys while it runs
        kv.bgrewriteaof()
        start = time.perf_counter()
        kv.hset(b"hash", b"during-rewrite", b"x")
        kv.sadd(b"set", b"during-rewrite")
        rewrite_write = time.perf_counter() - start
    finally:
        worst = pinger.finish()
    print(f"\n{'command':60} {'kvserver':>10} {'redis':>10}")
    for argv, kv_outcome, kv_time, _real_outcome, real_time in rows:
        shown = b" ".join(a if len(a) <= 30 else a[:27] + b"..." for a in argv).decode(errors="replace")
        print(f"{shown[:60]:60} {kv_time * 1000:8.1f}ms {real_time * 1000:8.1f}ms  {kv_outcome[:50]}")
    print(f"first writes to big keys during a rewrite: {rewrite_write * 1000:.1f} ms")
    print(f"worst PING from another client: {worst * 1000:.1f} ms")
    mismatched = [
        (argv[:3], kv_outcome, real_outcome)
        for argv, kv_outcome, _, real_outcome, _ in rows
        if (kv_outcome.startswith("error") or real_outcome.startswith("error")) and kv_outcome != real_outcome
    ]
    assert not mismatched, mismatched
    # a command's own time is bounded like Redis's (the client parsing a big reply counts for both)
    slow = [(argv[:3], round(t, 3), round(rt, 3)) for argv, _, t, _, rt in rows if t > 1.0 + 3 * rt]
    assert not slow, slow
    assert rewrite_write < 1.0
    assert worst < 2.0
    assert "Traceback" not in kv_server.log()
    kv.close()
    real.close()
