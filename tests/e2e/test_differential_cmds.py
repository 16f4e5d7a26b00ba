"""The commands issue 14 adds around the existing types, against kvserver and redis-server, byte for byte.

LMPOP/BLMPOP, ZMPOP/BZMPOP (blocking served by another client too), ZUNION/ZINTER/ZDIFF and
their STORE forms, ZINTERCARD, SINTERCARD, LCS and OBJECT FREQ/IDLETIME's errors, in RESP2 and RESP3.
"""

from __future__ import annotations

import random
import shlex
from typing import Any

import pytest
import redis

from kvserver.protocol import encode_command
from tests.support import (
    RawClient,
    ServerProcess,
    assert_same_replies,
    read_all,
    read_raw_reply,
    request,
    wait_for,
)


def script(text: str) -> list[tuple[str, ...]]:
    return [tuple(shlex.split(line)) for line in text.strip().splitlines()]


MPOP = script(
    """
FLUSHALL
RPUSH l a b c d e
SET str x
LMPOP 1 l LEFT
LMPOP 1 l RIGHT COUNT 2
LMPOP 2 nokey l left COUNT 10
EXISTS l
LMPOP 2 nokey l LEFT
RPUSH l a
LMPOP 2 str l LEFT
LMPOP 2 nokey str LEFT
LMPOP 0 l LEFT
LMPOP -1 l LEFT
LMPOP x l LEFT
LMPOP 9223372036854775807 l LEFT
LMPOP 2 l LEFT
LMPOP 1 l MIDDLE
LMPOP 1 l LEFT COUNT 0
LMPOP 1 l LEFT COUNT -1
LMPOP 1 l LEFT COUNT x
LMPOP 1 l LEFT COUNT 1 COUNT 2
LMPOP 1 l LEFT COUNT
LMPOP 1 l LEFT FOO
LMPOP 1 l
LMPOP 1
BLMPOP 0 1 l LEFT COUNT 5
BLMPOP 0.01 1 l LEFT
BLMPOP x 1 l LEFT
BLMPOP -1 1 l LEFT
BLMPOP 0 0 l LEFT
BLMPOP 0 1 l UP
BLMPOP x 0 l LEFT
BLMPOP 0 1 str LEFT
BLMPOP 0 1 l
ZADD z 1 a 2 b 3 c 4 d 5 e
ZMPOP 1 z MIN
ZMPOP 1 z MAX COUNT 2
ZMPOP 2 nokey z min COUNT 10
EXISTS z
ZMPOP 1 z MIN
ZADD z 1.5 a -inf b
ZMPOP 2 str z MIN
ZMPOP 2 nokey str MAX
ZMPOP 0 z MIN
ZMPOP x z MIN
ZMPOP 1 z LEFT
ZMPOP 1 z MIN COUNT 0
ZMPOP 1 z MIN COUNT 1 COUNT 1
ZMPOP 1 z MIN FOO
ZMPOP 2 z MIN
BZMPOP 0 1 z MIN COUNT 5
BZMPOP 0.01 1 z MAX
BZMPOP -1 1 z MIN
BZMPOP 0 0 z MIN
BZMPOP 0 1 str MIN
MULTI
BLMPOP 0 1 l LEFT
BZMPOP 0 1 z MIN
EXEC
COMMAND GETKEYS LMPOP 2 a b LEFT
COMMAND GETKEYS LMPOP 2 a LEFT
COMMAND GETKEYS LMPOP 3 a LEFT
COMMAND GETKEYS LMPOP 0 a LEFT
COMMAND GETKEYS BLMPOP 0 2 a b LEFT
COMMAND GETKEYS ZMPOP 1 a MIN
COMMAND GETKEYS BZMPOP 0 1 a MIN
COMMAND GETKEYS SINTERCARD 2 a b
COMMAND GETKEYS SINTERCARD 3 a b
"""
)

ALGEBRA = script(
    """
FLUSHALL
ZADD z1 1 a 2 b 3 c
ZADD z2 10 b 20 c 30 d
ZADD zinf +inf a -inf b 0 c
ZADD zneg -inf a +inf b 5 c
SADD s1 a c e
SADD s2 x
SET str v
ZUNION 2 z1 z2
ZUNION 2 z1 z2 WITHSCORES
ZUNION 3 z1 z2 s1 WITHSCORES
ZUNION 2 z1 z2 WEIGHTS 2 -1 WITHSCORES
ZUNION 2 z1 z2 AGGREGATE MIN WITHSCORES
ZUNION 2 z1 z2 AGGREGATE max WITHSCORES
ZUNION 2 z1 z2 WEIGHTS 1 1 AGGREGATE SUM AGGREGATE MAX WITHSCORES
ZUNION 2 zinf zneg WITHSCORES
ZUNION 2 zinf zneg AGGREGATE MIN WITHSCORES
ZUNION 1 zinf WEIGHTS 0 WITHSCORES
ZUNION 1 z1 WEIGHTS -1 WITHSCORES
ZUNION 2 z1 nokey WITHSCORES
ZUNION 1 nokey
ZUNION 2 z1 str
ZUNION 2 str nokey WEIGHTS x
ZUNION 0 z1
ZUNION -1 z1
ZUNION x z1
ZUNION 3 z1 z2
ZUNION 2 z1 z2 WEIGHTS 1
ZUNION 2 z1 z2 WEIGHTS 1 x
ZUNION 2 z1 z2 WEIGHTS 1 nan
ZUNION 2 z1 z2 AGGREGATE
ZUNION 2 z1 z2 AGGREGATE avg
ZUNION 2 z1 z2 LIMIT 1
ZUNION 2 z1 z2 FOO
ZINTER 2 z1 z2 WITHSCORES
ZINTER 3 z1 z2 s1 WITHSCORES
ZINTER 2 z1 s1 WEIGHTS 3 0.5 WITHSCORES
ZINTER 2 zinf zneg WITHSCORES
ZINTER 2 zinf zneg AGGREGATE MAX WITHSCORES
ZINTER 2 z1 z1 WITHSCORES
ZINTER 2 z1 nokey
ZINTER 2 z1 s2
ZINTER 1 str
ZINTER 0 z1
ZINTER 2 z1 z2 WITHSCORES LIMIT 1
ZDIFF 2 z1 z2
ZDIFF 2 z1 z2 WITHSCORES
ZDIFF 3 z1 s1 nokey WITHSCORES
ZDIFF 1 s1 WITHSCORES
ZDIFF 2 nokey z1
ZDIFF 2 z1 z2 WEIGHTS 1 1
ZDIFF 2 z1 z2 AGGREGATE SUM
ZDIFF 0 z1
ZDIFF 2 z1 str
ZUNIONSTORE d 2 z1 z2
ZRANGE d 0 -1 WITHSCORES
ZUNIONSTORE d 2 z1 s1 WEIGHTS 2 3 AGGREGATE MAX
ZRANGE d 0 -1 WITHSCORES
ZINTERSTORE d 2 z1 z2 AGGREGATE MIN
ZRANGE d 0 -1 WITHSCORES
ZINTERSTORE d 2 z1 s2
EXISTS d
ZDIFFSTORE d 2 z1 z2
ZRANGE d 0 -1 WITHSCORES
ZDIFFSTORE d 2 z1 z1
EXISTS d
SET d string
ZUNIONSTORE d 1 z1
TYPE d
ZUNIONSTORE z1 2 z1 z2
ZRANGE z1 0 -1 WITHSCORES
ZUNIONSTORE d 1 z1 WITHSCORES
ZDIFFSTORE d 1 z1 WEIGHTS 1
ZUNIONSTORE d 0 z1
ZINTERSTORE d 3 z1 z2
ZINTERSTORE d 1 str
ZINTERCARD 2 z1 z2
ZINTERCARD 2 z1 z2 LIMIT 1
ZINTERCARD 2 z1 z2 LIMIT 0
ZINTERCARD 2 z1 s1 LIMIT 10
ZINTERCARD 1 nokey
ZINTERCARD 2 z1 z2 LIMIT -1
ZINTERCARD 2 z1 z2 LIMIT x
ZINTERCARD 2 z1 z2 WITHSCORES
ZINTERCARD 2 z1 z2 WEIGHTS 1 1
ZINTERCARD 0 z1
ZINTERCARD 3 z1 z2
ZINTERCARD 1 str
SINTERCARD 2 s1 z1
SINTERCARD 2 s1 s1 LIMIT 1
COMMAND GETKEYS ZUNIONSTORE d 2 a b
COMMAND GETKEYS ZDIFFSTORE d 3 a b
COMMAND GETKEYS ZINTER 2 a b WITHSCORES
COMMAND GETKEYS ZINTERCARD 1 a LIMIT 2
ZADD mixed 1 a 2 b 3 c 4 d
ZRANGE mixed [b [c BYLEX
ZRANGE mixed (a + BYLEX
ZRANGE mixed [c - BYLEX REV
ZRANGEBYLEX mixed - (c
ZREVRANGEBYLEX mixed [c (a LIMIT 0 1
ZLEXCOUNT mixed [b +
ZRANGESTORE lexed mixed [b [c BYLEX
ZREMRANGEBYLEX mixed [d +
ZRANGE mixed 0 -1
"""
)

LCS = script(
    """
FLUSHALL
MSET a ohmytext b mynewtext
LCS a b
LCS a b LEN
LCS a b IDX
LCS a b IDX MINMATCHLEN 4
LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
LCS a b IDX WITHMATCHLEN MINMATCHLEN -5
LCS a b idx withmatchlen
LCS a b LEN IDX
LCS a b LEN WITHMATCHLEN
LCS a b LEN MINMATCHLEN 2
LCS a b MINMATCHLEN
LCS a b MINMATCHLEN x
LCS a b FOO
LCS a nokey
LCS nokey nokey IDX
LCS nokey nokey LEN
LCS a a IDX WITHMATCHLEN
SET empty ""
LCS a empty IDX
RPUSH list x
LCS a list
LCS list nokey LEN
LCS a
SET r1 abcabcabcabcxyz
SET r2 zyxcbacbacbacba
LCS r1 r2
LCS r1 r2 IDX WITHMATCHLEN
SETRANGE raw 0 ohmy
LCS raw a IDX
CONFIG SET proto-max-bulk-len 1000000
SETRANGE big1 700 x
LCS big1 big1 LEN
SETRANGE fits 400 x
LCS fits fits LEN
SETRANGE big2 600 y
LCS big2 big2 LEN
CONFIG SET proto-max-bulk-len 536870912
"""
)

OBJECT = script(
    """
FLUSHALL
SET k v
OBJECT HELP
OBJECT IDLETIME k
OBJECT IDLETIME nosuch
OBJECT FREQ k
OBJECT FREQ nosuch
OBJECT FOO k
OBJECT IDLETIME
OBJECT IDLETIME k extra
CONFIG SET maxmemory-policy allkeys-lfu
SET f v
OBJECT FREQ f
OBJECT IDLETIME f
OBJECT IDLETIME nosuch
GET f
OBJECT FREQ f
TTL f
TYPE f
EXISTS f
OBJECT FREQ f
CONFIG SET maxmemory-policy noeviction
"""
)


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_object_freq_and_idletime_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, OBJECT)


def random_strings(seed: int, count: int) -> list[tuple[str, ...]]:
    """Pairs of random strings over small alphabets, and every form of LCS on each."""
    rng = random.Random(seed)
    steps: list[tuple[str, ...]] = [("FLUSHALL",)]
    for _ in range(count):
        alphabet = rng.choice(["ab", "abc", "acgt", "abcdefgh"])
        first = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        second = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        steps += [("MSET", "x", first, "y", second), ("LCS", "x", "y"), ("LCS", "x", "y", "IDX", "WITHMATCHLEN")]
        steps.append(("LCS", "x", "y", "IDX", "MINMATCHLEN", str(rng.randint(0, 4))))
    return steps


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_lcs_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, LCS)
    assert_same_replies(kv_server, real_redis, resp3, random_strings(14, 150))


@pytest.mark.external
def test_lcs_of_long_strings_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    """5000 x 5000 bytes: 25M cells (Redis's table: 100 MB), and a long string against a short one."""
    rng = random.Random(7)
    first = "".join(rng.choice("acgt") for _ in range(5000))
    second = "".join(rng.choice("acgt") for _ in range(5000))
    steps = [
        ("MSET", "x", first, "y", second, "long", "x" + "y" * 1_000_000, "short", "xy"),
        ("LCS", "x", "y", "IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"),
        ("LCS", "x", "y", "LEN"),
        ("LCS", "long", "short", "IDX"),
        ("LCS", "short", "long", "IDX"),
    ]
    assert_same_replies(kv_server, real_redis, False, steps)


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_sorted_set_algebra_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, ALGEBRA)


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_multi_key_pops_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, MPOP)


def served(port: int, resp3: bool, blocking: tuple[str, ...], writes: list[tuple[str, ...]]) -> list[bytes]:
    """``blocking`` sent by one client on an empty database, then ``writes`` by another: the
    blocked client's reply, then each write's reply and what is left (LRANGE/ZRANGE)."""
    waiter, writer = RawClient(port), RawClient(port)
    try:
        if resp3:
            request(waiter, "HELLO", "3")
        request(writer, "FLUSHALL")
        waiter.send(encode_command(*blocking))
        wait_for(lambda: b"blocked_clients:1\r\n" in request(writer, "INFO", "clients"))
        replies = [request(writer, *step) for step in writes]
        return [read_raw_reply(waiter), *replies]
    finally:
        waiter.close()
        writer.close()


BLOCKED: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = [
    (
        ("BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"),
        [("RPUSH", "b", "1", "2", "3"), ("LRANGE", "b", "0", "-1")],
    ),
    (("BLMPOP", "0", "1", "a", "LEFT", "COUNT", "9"), [("RPUSH", "a", "1", "2"), ("EXISTS", "a")]),
    (
        ("BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2"),
        [("ZADD", "b", "1", "x", "2", "y", "3", "z"), ("ZRANGE", "b", "0", "-1")],
    ),
    (("BZMPOP", "0", "1", "a", "MIN"), [("ZADD", "a", "1", "x"), ("EXISTS", "a")]),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize(("blocking", "writes"), BLOCKED, ids=[" ".join(b[:1] + b[5:6]) for b, _ in BLOCKED])
def test_blocked_multi_key_pops_are_served_as_redis(
    kv_server: ServerProcess,
    real_redis: ServerProcess,
    resp3: bool,
    blocking: tuple[str, ...],
    writes: list[tuple[str, ...]],
) -> None:
    ours = served(kv_server.port, resp3, blocking, writes)
    theirs = served(real_redis.port, resp3, blocking, writes)
    assert ours == theirs


def test_idle_time_follows_the_servers_clock(kv: redis.Redis) -> None:
    kv.set("k", "v")
    wait_for(lambda: kv.object("idletime", "k") >= 1, timeout=10)
    kv.ttl("k")
    assert kv.object("idletime", "k") >= 1  # TTL is no access
    kv.get("k")
    assert kv.object("idletime", "k") == 0


@pytest.mark.external
def test_command_list_names_subcommands_as_redis_does(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    def ask(server: ServerProcess, *args: str) -> Any:
        client = RawClient(server.port)
        try:
            return read_all(request(client, *args))[0]
        finally:
            client.close()

    for pattern in ("object*", "config|*", "z*", "*mpop"):
        listed = ("COMMAND", "LIST", "FILTERBY", "PATTERN", pattern)
        assert sorted(ask(kv_server, *listed)) == sorted(ask(real_redis, *listed)), pattern
    everything = set(ask(kv_server, "COMMAND", "LIST"))
    newer = {b"client|setinfo", b"client|no-touch"}  # Redis 7.2's, accepted for redis-py (compatibility.md)
    assert everything - newer <= set(ask(real_redis, "COMMAND", "LIST"))
    assert b"client|kill" in everything
    assert ask(kv_server, "COMMAND", "COUNT") == len([name for name in everything if b"|" not in name])
