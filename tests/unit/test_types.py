"""Container commands through Database.execute, no sockets: canonical log records, empty-key
removal, WATCH, and the blocking machinery (parking, fair serving, EXEC, unblocking)."""

from __future__ import annotations

from collections import deque

import pytest

from kvserver.commands.registry import Block
from kvserver.keyspace import KeyListener
from kvserver.protocol import NullArray
from kvserver.state import ClientState
from tests.support import Harness


class Writing(KeyListener):
    """What the rewrite's copy-on-write hears: the keys about to be written."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def writing(self, key: bytes) -> None:
        self.seen.append(key)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_random_and_arithmetic_writes_are_logged_as_their_outcome(h: Harness) -> None:
    h("SADD", "s", "a", "b", "c")
    popped = h("SPOP", "s", "2")
    assert isinstance(popped, list)
    h("HINCRBYFLOAT", "h", "f", "0.1")
    h("HINCRBYFLOAT", "h", "f", "0.2")
    h("HINCRBY", "h", "n", "5")
    h("HSETNX", "h", "x", "1")
    h("HSETNX", "h", "x", "2")  # not set: not logged
    assert h.records()[1:] == [
        [b"SREM", b"s", *popped],
        [b"HSET", b"h", b"f", b"0.1"],
        [b"HSET", b"h", b"f", b"0.3"],
        [b"HSET", b"h", b"n", b"5"],
        [b"HSET", b"h", b"x", b"1"],
    ]


def test_writes_that_change_nothing_are_not_logged(h: Harness) -> None:
    h("SADD", "s", "a")
    h("SADD", "s", "a")
    h("SREM", "s", "zz")
    h("HDEL", "nokey", "f")
    h("ZADD", "z", "1", "m")
    h("ZADD", "z", "NX", "2", "m")
    h("ZREM", "z", "nope")
    h("ZREMRANGEBYSCORE", "z", "5", "6")
    h("LREM", "nokey", "0", "x")
    assert h.records() == [[b"SADD", b"s", b"a"], [b"ZADD", b"z", b"1", b"m"]]


def test_containers_vanish_when_emptied(h: Harness) -> None:
    for create, empty in [
        (("HSET", "k", "f", "v"), ("HDEL", "k", "f")),
        (("SADD", "k", "m"), ("SREM", "k", "m")),
        (("ZADD", "k", "1", "m"), ("ZPOPMIN", "k")),
        (("RPUSH", "k", "e"), ("LPOP", "k")),
        (("RPUSH", "k", "e", "f"), ("LTRIM", "k", "5", "6")),
        (("SADD", "k", "m"), ("SPOP", "k")),
        (("RPUSH", "k", "e"), ("LMOVE", "k", "k2", "LEFT", "LEFT")),
    ]:
        h(*create)
        h(*empty)
        assert h("EXISTS", "k") == 0, create
        h("DEL", "k2")


def test_container_writes_touch_watched_keys(h: Harness) -> None:
    other = h.new_client()
    h("WATCH", "l")
    h("RPUSH", "l", "x", client=other)
    h("MULTI")
    h("PING")
    assert h("EXEC") is NullArray


def test_blpop_parks_and_is_served_by_a_push_in_arrival_order(h: Harness) -> None:
    first, second = h.new_client(), h.new_client()
    delivered: list[tuple[str, object]] = []
    first.on_unblocked = lambda reply: delivered.append(("first", reply))
    second.on_unblocked = lambda reply: delivered.append(("second", reply))
    assert isinstance(h("BLPOP", "q", "other", "0", client=first), Block)
    assert isinstance(h("BRPOP", "q", "5", client=second), Block)
    assert h("RPUSH", "q", "a", "b", "c") == 3
    assert delivered == [("first", [b"q", b"a"]), ("second", [b"q", b"c"])]
    assert h("LRANGE", "q", "0", "-1") == [b"b"]
    assert h.db.blocking.waiting == {}
    assert h.records()[-2:] == [[b"LPOP", b"q"], [b"RPOP", b"q"]]  # what the waiters took


def test_push_inside_exec_serves_waiters_after_the_transaction(h: Harness) -> None:
    waiter = h.new_client()
    delivered: list[object] = []
    waiter.on_unblocked = delivered.append
    h("BLPOP", "q", "0", client=waiter)
    h("MULTI")
    h("RPUSH", "q", "x")
    h("LLEN", "q")
    assert h("EXEC") == [1, 1]  # the element was still there for LLEN inside the transaction
    assert delivered == [[b"q", b"x"]]


def test_blocking_commands_do_not_block_inside_exec(h: Harness) -> None:
    h("MULTI")
    h("BLPOP", "q", "0")
    h("BLMOVE", "q", "d", "LEFT", "LEFT", "0")
    assert h("EXEC") == [NullArray, None]


def test_blmove_served_pushes_on_to_the_next_waiter(h: Harness) -> None:
    mover, popper = h.new_client(), h.new_client()
    delivered: list[object] = []
    mover.on_unblocked = delivered.append
    popper.on_unblocked = delivered.append
    h("BLMOVE", "a", "b", "RIGHT", "LEFT", "0", client=mover)
    h("BLPOP", "b", "0", client=popper)
    h("RPUSH", "a", "x")
    assert delivered == [b"x", [b"b", b"x"]]
    assert h("EXISTS", "a", "b") == 0


def test_a_waiter_keeps_waiting_while_the_key_is_not_a_list(h: Harness) -> None:
    waiter = h.new_client()
    h("BLPOP", "k", "0", client=waiter)
    h("SET", "k", "string")
    h("DEL", "k")
    assert is_blocked(waiter)
    assert h.db.unblock(waiter, NullArray) is True
    assert not is_blocked(waiter)
    assert h.db.unblock(waiter, NullArray) is False


def is_blocked(client: ClientState) -> bool:
    """Read afresh each time (an attribute narrowed by one assert would stay narrowed for mypy)."""
    return client.blocked is not None


def test_closed_client_is_forgotten(h: Harness) -> None:
    waiter = h.new_client()
    h("BLPOP", "k", "0", client=waiter)
    h.db.client_closed(waiter)
    assert h.db.blocking.waiting == {}
    h("RPUSH", "k", "v")
    assert h("LLEN", "k") == 1


def test_rewrite_dump_is_a_few_records_per_container(h: Harness) -> None:
    from kvserver.keyspace import dump_key

    h("RPUSH", "l", *[str(i) for i in range(1200)])
    h("ZADD", "z", "1.5", "a", "inf", "b")
    h("PEXPIRE", "z", "1000")
    ks = h.db.keyspace
    value = ks.get(b"l")
    assert isinstance(value, deque)
    assert [len(r) for r in dump_key(ks, b"l", value)] == [514, 514, 178]
    assert dump_key(ks, b"z", ks.get(b"z")) == [
        [b"ZADD", b"z", b"1.5", b"a", b"inf", b"b"],
        [b"PEXPIREAT", b"z", b"%d" % (h.clock.now + 1000)],
    ]


def test_serving_a_blocked_client_during_a_rewrite_dumps_its_keys_first(h: Harness) -> None:
    mover = h.new_client()
    h("BLMOVE", "src", "dst", "LEFT", "LEFT", "0", client=mover)
    writer = Writing()
    h.db.keyspace.subscribe(writer)
    h("RPUSH", "src", "x")
    assert writer.seen == [b"src", b"src", b"dst"]  # RPUSH's key, then BLMOVE's


def test_bzpopmin_is_served_by_zadd(h: Harness) -> None:
    first, second = h.new_client(), h.new_client()
    delivered: list[object] = []
    first.on_unblocked = delivered.append
    second.on_unblocked = delivered.append
    assert isinstance(h("BZPOPMIN", "z", "0", client=first), Block)
    assert isinstance(h("BZPOPMAX", "z", "0", client=second), Block)
    h("ZADD", "z", "1", "a", "2", "b", "3", "c")
    assert delivered == [[b"z", b"a", 1.0], [b"z", b"c", 3.0]]
    assert h("ZRANGE", "z", "0", "-1") == [b"b"]
    assert h.records()[-2:] == [[b"ZPOPMIN", b"z"], [b"ZPOPMAX", b"z"]]


def test_smove_of_a_member_the_destination_has_leaves_its_watchers_alone(h: Harness) -> None:
    """unit/type/set's "SMOVE only notify dstset when the addition is successful"."""
    h("SADD", "src", "a", "b")
    h("SADD", "dst", "a")
    h("WATCH", "dst")
    h("MULTI")
    h("SADD", "dst", "c")
    other = h.new_client()
    assert h("SMOVE", "src", "dst", "a", client=other) == 1
    assert h.records()[-1] == [b"SREM", b"src", b"a"]  # what it did: the destination had a
    assert h("EXEC") == [1]
    assert h("SCARD", "dst") == 2
