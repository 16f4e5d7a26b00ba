"""Bitmaps and BITFIELD against a real redis-server, RESP2 and RESP3: every reply byte for byte.

A fixed script of the edge cases (errors, ranges, overflow modes, growth, types) and a seeded
random script over small strings, where every reply (GET included) must match.
"""

from __future__ import annotations

import random

import pytest
import redis

from tests.support import ServerProcess, assert_same_replies, call, command, wait_for

EDGES: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("SETBIT", "k", "4294967296", "1"),
    ("SETBIT", "k", "4294967295", "2"),
    ("SETBIT", "k", "-1", "1"),
    ("SETBIT", "k", "x", "1"),
    ("SETBIT", "k", "0", "x"),
    ("SETBIT", "k", "0"),
    ("GETBIT", "k", "4294967296"),
    ("GETBIT", "nokey", "5"),
    ("LPUSH", "l", "a"),
    ("SETBIT", "l", "0", "1"),
    ("GETBIT", "l", "0"),
    ("BITCOUNT", "l"),
    ("BITPOS", "l", "1"),
    ("BITOP", "AND", "x", "l"),
    ("BITOP", "NOT", "x", "a", "b"),
    ("BITOP", "NOT", "x"),
    ("BITFIELD", "l", "GET", "u8", "0"),
    ("BITFIELD_RO", "l", "GET", "u8", "0"),
    ("BITFIELD_RO", "l", "SET", "u8", "0", "1"),
    ("BITFIELD_RO", "k", "INCRBY", "u8", "0", "1"),
    ("BITFIELD", "k"),
    ("BITFIELD", "l"),
    ("BITFIELD", "k", "GET", "u64", "0"),
    ("BITFIELD", "k", "GET", "i65", "0"),
    ("BITFIELD", "k", "GET", "i0", "0"),
    ("BITFIELD", "k", "GET", "x8", "0"),
    ("BITFIELD", "k", "GET", "u8", "#-1"),
    ("BITFIELD", "k", "GET", "u8", "4294967296"),
    ("BITFIELD", "k", "GET", "u8", "#536870912"),
    ("BITFIELD", "k", "GET", "u8"),
    ("BITFIELD", "k", "GET"),
    ("BITFIELD", "k", "OVERFLOW"),
    ("BITFIELD", "k", "OVERFLOW", "X"),
    ("BITFIELD", "k", "FOO"),
    ("BITFIELD", "k", "SET", "u8", "0", "x"),
    ("BITFIELD", "k", "SET", "u8", "0"),
    (
        "BITFIELD",
        "k",
        "INCRBY",
        "i8",
        "0",
        "100",
        "INCRBY",
        "i8",
        "0",
        "100",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "i8",
        "0",
        "100",
        "OVERFLOW",
        "FAIL",
        "INCRBY",
        "i8",
        "0",
        "100",
    ),
    ("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u2", "0", "5"),
    ("EXISTS", "k"),
    ("BITFIELD", "new", "OVERFLOW", "FAIL", "SET", "u2", "100", "5"),
    ("STRLEN", "new"),
    (
        "BITFIELD",
        "k",
        "SET",
        "i64",
        "0",
        "-9223372036854775808",
        "INCRBY",
        "i64",
        "0",
        "-1",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "i64",
        "0",
        "-1",
    ),
    ("BITFIELD", "k", "SET", "u63", "0", "-1", "OVERFLOW", "SAT", "SET", "u63", "0", "-1", "GET", "u63", "0"),
    (
        "BITFIELD",
        "k",
        "SET",
        "u8",
        "0",
        "255",
        "GET",
        "u8",
        "0",
        "GET",
        "u4",
        "4",
        "GET",
        "i4",
        "4",
        "GET",
        "i8",
        "0",
        "GET",
        "u8",
        "7",
    ),
    ("SET", "e", ""),
    ("BITCOUNT", "e"),
    ("BITPOS", "e", "0"),
    ("BITPOS", "e", "1"),
    ("BITPOS", "e", "0", "0"),
    ("BITCOUNT", "e", "0", "-1"),
    ("SET", "f", "\xff\xff\xff"),
    ("BITPOS", "f", "0"),
    ("BITPOS", "f", "0", "1"),
    ("BITPOS", "f", "0", "1", "2"),
    ("BITPOS", "f", "0", "1", "2", "BIT"),
    ("BITPOS", "f", "0", "1", "200", "BIT"),
    ("BITPOS", "f", "1", "-1"),
    ("BITPOS", "f", "1", "x"),
    ("BITPOS", "f", "1", "0", "x"),
    ("BITPOS", "f", "1", "0", "1", "2"),
    ("BITPOS", "f", "1", "0", "1", "BIT", "x"),
    ("BITPOS", "nokey", "1", "x"),
    ("BITCOUNT", "f", "0"),
    ("BITCOUNT", "f", "0", "1", "BIT", "x"),
    ("BITCOUNT", "f", "x", "1"),
    ("BITCOUNT", "nokey", "x"),
    ("BITCOUNT", "f", "-1", "-2", "x"),
    ("BITOP", "AND", "dest", "nokey1", "nokey2"),
    ("SET", "dest", "x"),
    ("BITOP", "OR", "dest", "nokey1"),
    ("EXISTS", "dest"),
    ("BITOP", "foo", "dest", "f"),
    ("SET", "dest", "x", "EX", "100"),
    ("BITOP", "OR", "dest", "f"),
    ("TTL", "dest"),
    ("SETBIT", "f", "7", "1"),
    ("SETBIT", "g", "0", "0"),
    ("GET", "g"),
    ("OBJECT", "ENCODING", "g"),
    ("SET", "n", "123"),
    ("SETBIT", "n", "0", "1"),
    ("OBJECT", "ENCODING", "n"),
    ("CONFIG", "SET", "proto-max-bulk-len", "2000000"),
    ("SETBIT", "k", "16000000", "1"),
    ("SETBIT", "k", "15999999", "1"),
    ("STRLEN", "k"),
    ("CONFIG", "SET", "proto-max-bulk-len", "536870912"),
    ("SET", "short", "x"),
    ("BITOP", "NOT", "fresh", "short"),
    ("OBJECT", "ENCODING", "fresh"),
    ("SETBIT", "fresh2", "1", "1"),
    ("OBJECT", "ENCODING", "fresh2"),
    ("PFADD", "hll", "a"),
    ("OBJECT", "ENCODING", "hll"),
    ("FLUSHALL",),
]


def _number(rng: random.Random) -> str:
    return str(rng.choice([0, 1, 2, 7, 8, 9, 16, 17, 63, 64, 100, -1, -2, -8, -9, -100, rng.randint(-300, 300)]))


def _field(rng: random.Random) -> list[str]:
    kind = rng.choice("iu") + str(rng.choice([1, 2, 5, 8, 13, 16, 31, 32, 33, 63, 64]))
    offset = ("#" if rng.random() < 0.2 else "") + str(rng.randrange(100))
    big = rng.random() < 0.3
    op = rng.randrange(4)
    if op == 0:
        return ["GET", kind, offset]
    if op == 1:
        return ["SET", kind, offset, str(rng.randint(-(2**64), 2**64) if big else rng.randint(-300, 300))]
    if op == 2:
        return ["INCRBY", kind, offset, str(rng.randint(-(2**63), 2**63 - 1) if big else rng.randint(-300, 300))]
    return ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL", "sat", "bad"])]


def random_script(seed: int, steps: int) -> list[tuple[str, ...]]:
    """Bit commands on four small keys, in every form; values are random text (sent
    as UTF-8, so every byte value occurs)."""
    rng = random.Random(seed)
    keys = ["a", "b", "c", "d"]
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    for _ in range(steps):
        key = rng.choice(keys)
        choice = rng.randrange(10)
        if choice == 0:
            value = bytes(rng.randrange(256) for _ in range(rng.randrange(40))).decode("latin-1")
            script.append(("SET", key, value))
        elif choice == 1:
            script.append(("SETBIT", key, str(rng.randrange(300)), rng.choice(["0", "1", "1", "2", "-1"])))
        elif choice == 2:
            script.append(("GETBIT", key, str(rng.randrange(400))))
        elif choice == 3:
            args = ["BITCOUNT", key, *[_number(rng), _number(rng)][: rng.choice([0, 1, 2, 2])]]
            if len(args) == 4 and rng.random() < 0.6:
                args.append(rng.choice(["BIT", "byte", "bIt", "x"]))
            script.append(tuple(args))
        elif choice in (4, 5):
            args = ["BITPOS", key, rng.choice(["0", "1", "1", "0", "2"])]
            args += [_number(rng), _number(rng)][: rng.randrange(3)]
            if len(args) == 5 and rng.random() < 0.6:
                args.append(rng.choice(["BIT", "BYTE", "bit"]))
            script.append(tuple(args))
        elif choice == 6:
            sources = rng.sample([*keys, "missing"], rng.randrange(1, 4))
            script.append(("BITOP", rng.choice(["AND", "or", "XOR", "NOT", "nope"]), rng.choice(keys), *sources))
            script.append(("GET", rng.choice(keys)))
        elif choice == 7:
            script.append(("GET", key))
        elif choice == 8:
            script.append(("BITFIELD", key, *[part for _ in range(rng.randrange(1, 4)) for part in _field(rng)]))
        else:
            script.append(("BITFIELD_RO", key, "GET", "u8", "0", "GET", "i5", str(rng.randrange(50))))
    return script


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_bitmap_edge_cases_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, EDGES)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_random_bit_operations_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, random_script(14 + resp3, 1500))


def _keyspace_events(port: int) -> list[tuple[bytes, bytes]]:
    """The keyspace events of the bit and HyperLogLog writes, up to a sentinel message."""
    r = redis.Redis(port=port)
    r.flushall()
    r.config_set("notify-keyspace-events", "KEA")
    sub = call(r.pubsub)
    sub.psubscribe("__key*__:*")
    sub.subscribe("sentinel")
    wait_for(lambda: sub.get_message(timeout=0.1) is None and len(sub.patterns) + len(sub.channels) == 2)
    r.setbit("b", 3, 1)
    r.setbit("b", 3, 1)  # no change: no event
    command(r, "BITFIELD", "f", "SET", "u8", "0", "1")
    command(r, "BITFIELD", "f", "GET", "u8", "0")
    r.bitop("OR", "d", "b")
    r.bitop("AND", "d", "none")
    r.pfadd("h", "a")
    r.pfadd("h", "a")
    r.pfcount("h")  # stores the cardinality: no event
    r.pfmerge("m", "h")
    r.publish("sentinel", "end")
    events: list[tuple[bytes, bytes]] = []
    while True:
        message = sub.get_message(timeout=5)
        assert message is not None
        if message["type"] == "message":
            break
        if message["type"] == "pmessage":
            events.append((message["channel"], message["data"]))
    r.config_set("notify-keyspace-events", "")
    sub.close()
    r.close()
    return events


def test_keyspace_events_match_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    assert _keyspace_events(kv_server.port) == _keyspace_events(real_redis.port)
