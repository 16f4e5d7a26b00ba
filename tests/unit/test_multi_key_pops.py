"""LMPOP / BLMPOP / ZMPOP / BZMPOP through Database.execute: canonical records, the keys a
rewrite hears about, parking on several keys and serving with a count."""

from __future__ import annotations

import pytest

from kvserver.commands.registry import TABLE, Block, KeyNum
from kvserver.protocol import NullArray
from kvserver.zset import ZSet
from tests.support import Harness
from tests.unit.test_multidb_log import replayed, snapshot
from tests.unit.test_types import Writing


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_lmpop_is_logged_as_a_pop_with_the_count_taken(h: Harness) -> None:
    h("RPUSH", "l", "a", "b", "c")
    assert h("LMPOP", "2", "none", "l", "RIGHT", "COUNT", "10") == [b"l", [b"c", b"b", b"a"]]
    assert h("EXISTS", "l") == 0
    assert h.records()[-1] == [b"RPOP", b"l", b"3"]
    assert h("LMPOP", "1", "l", "LEFT") is NullArray
    assert h.records()[-1] == [b"RPOP", b"l", b"3"]  # nothing popped, nothing logged


def test_zmpop_is_logged_as_zpopmin_or_zpopmax_with_the_count_taken(h: Harness) -> None:
    h("ZADD", "z", "1", "a", "2", "b", "3", "c")
    assert h("ZMPOP", "1", "z", "MAX", "COUNT", "2") == [b"z", [[b"c", 3.0], [b"b", 2.0]]]
    assert h.records()[-1] == [b"ZPOPMAX", b"z", b"2"]
    assert h("ZMPOP", "1", "z", "MIN") == [b"z", [[b"a", 1.0]]]
    assert h.records()[-1] == [b"ZPOPMIN", b"z", b"1"]


def test_every_counted_key_is_announced_before_the_write(h: Harness) -> None:
    writing = Writing()
    h.db.keyspace.subscribe(writing)
    h("RPUSH", "b", "x")
    writing.seen.clear()
    h("LMPOP", "3", "a", "b", "c", "LEFT")
    assert writing.seen == [b"a", b"b", b"c"]  # a rewrite in progress dumps them first


def test_keynum_finds_keys_as_redis_getkeys_does() -> None:
    assert TABLE["lmpop"].keys([b"LMPOP", b"2", b"a", b"b", b"LEFT"]) == [b"a", b"b"]
    assert TABLE["blmpop"].keys([b"BLMPOP", b"0", b"1", b"a", b"LEFT"]) == [b"a"]
    assert KeyNum(2, dest=True)([b"ZUNIONSTORE", b"d", b"2", b"a", b"b"]) == [b"d", b"a", b"b"]
    assert KeyNum(1)([b"LMPOP", b"3", b"a", b"LEFT"]) == []  # more keys than arguments
    assert KeyNum(1)([b"LMPOP", b"0", b"a", b"LEFT"]) == []
    assert KeyNum(1)([b"LMPOP", b"x", b"a", b"LEFT"]) == []


def test_blmpop_parks_on_every_key_and_is_served_with_its_count(h: Harness) -> None:
    first, second = h.new_client(), h.new_client()
    delivered: list[tuple[str, object]] = []
    first.on_unblocked = lambda reply: delivered.append(("first", reply))
    second.on_unblocked = lambda reply: delivered.append(("second", reply))
    assert isinstance(h("BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "2", client=first), Block)
    assert isinstance(h("BLMPOP", "0", "1", "b", "RIGHT", "COUNT", "5", client=second), Block)
    assert h("RPUSH", "b", "1", "2", "3") == 3
    assert delivered == [("first", [b"b", [b"1", b"2"]]), ("second", [b"b", [b"3"]])]
    assert h("EXISTS", "b") == 0
    assert h.records()[-2:] == [[b"LPOP", b"b", b"2"], [b"RPOP", b"b", b"1"]]
    assert h.db.blocking.waiting == {}


def test_bzmpop_is_served_by_zadd_and_logged_as_zpop(h: Harness) -> None:
    waiter = h.new_client()
    delivered: list[object] = []
    waiter.on_unblocked = delivered.append
    assert isinstance(h("BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "2", client=waiter), Block)
    h("ZADD", "a", "3", "z", "1", "x", "2", "y")
    assert delivered == [[b"a", [[b"x", 1.0], [b"y", 2.0]]]]
    assert h.records()[-1] == [b"ZPOPMIN", b"a", b"2"]


def test_a_key_of_another_type_blocks_no_one_until_it_holds_the_right_type(h: Harness) -> None:
    waiter = h.new_client()
    delivered: list[object] = []
    waiter.on_unblocked = delivered.append
    h("BLMPOP", "0", "1", "k", "LEFT", client=waiter)
    h("SET", "k", "v")
    assert delivered == []
    h("DEL", "k")
    h("LPUSH", "k", "x")
    assert delivered == [[b"k", [b"x"]]]


def test_a_sorted_set_store_is_logged_as_sent_and_replaces_the_destination(h: Harness) -> None:
    h("ZADD", "a", "1", "x", "2", "y")
    h("SADD", "s", "x", "z")
    h("SET", "d", "string")
    writing = Writing()
    h.db.keyspace.subscribe(writing)
    assert h("ZUNIONSTORE", "d", "2", "a", "s", "WEIGHTS", "2", "1") == 3
    assert writing.seen == [b"d", b"a", b"s"]
    assert h.records()[-1] == [b"ZUNIONSTORE", b"d", b"2", b"a", b"s", b"WEIGHTS", b"2", b"1"]
    assert h("ZRANGE", "d", "0", "-1", "WITHSCORES") == [b"z", 1.0, b"x", 3.0, b"y", 4.0]
    assert h("ZINTERSTORE", "d", "2", "a", "nosuch") == 0
    assert h("EXISTS", "d") == 0
    assert h.records()[-1][0] == b"ZINTERSTORE"  # the removal of d is logged
    count = len(h.records())
    assert h("ZDIFFSTORE", "d", "2", "a", "a") == 0
    assert len(h.records()) == count  # no destination, nothing stored: nothing logged


def test_a_large_stored_result_is_indexed_for_random_picks_and_scans(h: Harness) -> None:
    members = [f"m{i}" for i in range(300)]
    h("SADD", "s", *members)
    assert h("ZUNIONSTORE", "d", "1", "s") == 300
    zset = h.db.keyspace.get(b"d")
    assert isinstance(zset, ZSet)
    assert zset.members is not None
    assert sorted(zset.members) == sorted(m.encode() for m in members)
    h("ZREM", "d", "m0")
    assert h("ZCARD", "d") == 299
    assert len(zset.members) == 299


@pytest.mark.parametrize("blocking", [("BZPOPMIN", "z", "0"), ("BZMPOP", "0", "1", "z", "MIN")])
def test_a_key_created_and_deleted_inside_exec_wakes_no_one(h: Harness, blocking: tuple[str, ...]) -> None:
    """unit/type/zset's "ZADD + DEL should not awake blocked client": the waiter gets what the
    first ZADD after the transaction adds, never the member the transaction added and removed."""
    waiter = h.new_client()
    delivered: list[object] = []
    waiter.on_unblocked = delivered.append
    assert isinstance(h(*blocking, client=waiter), Block)
    h("MULTI")
    h("ZADD", "z", "0", "foo")
    h("DEL", "z")
    h("SET", "z", "string")
    h("EXEC")
    assert delivered == []
    h("DEL", "z")
    h("ZADD", "z", "1", "bar")
    assert delivered in ([[b"z", b"bar", 1.0]], [[b"z", [[b"bar", 1.0]]]])


def test_the_log_replays_to_the_same_keyspace(h: Harness) -> None:
    """What the new writes log (LPOP k n, ZPOPMIN k n, ZUNIONSTORE as sent, SREM for SMOVE...)
    replays, in a fresh server, to what the live one holds: no command is redone differently."""
    waiter = h.new_client()
    waiter.on_unblocked = lambda reply: None
    h("RPUSH", "l", "a", "b", "c", "d")
    h("LMPOP", "2", "none", "l", "RIGHT", "COUNT", "3")
    h("BLMPOP", "0", "1", "q", "LEFT", "COUNT", "2", client=waiter)
    h("RPUSH", "q", "x", "y", "z")
    h("ZADD", "z", "1", "a", "2", "b", "3", "c", "inf", "i")
    h("SADD", "s", "a", "x")
    h("ZMPOP", "1", "z", "MAX")
    h("BZMPOP", "0", "1", "w", "MIN", client=waiter)
    h("ZADD", "w", "5", "m", "6", "n")
    h("ZUNIONSTORE", "u", "2", "z", "s", "WEIGHTS", "0.5", "3", "AGGREGATE", "MAX")
    h("ZINTERSTORE", "i", "2", "z", "s")
    h("ZDIFFSTORE", "d", "2", "z", "s")
    h("SADD", "t", "a")
    h("SMOVE", "s", "t", "a")
    h("SMOVE", "s", "t", "x")
    assert replayed(h) == snapshot(h)
