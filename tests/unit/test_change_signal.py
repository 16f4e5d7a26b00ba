"""The change signal in-process: what the keyspace announces itself, what the dispatcher adds for
in-place writes, and its subscribers (WATCH, blocked clients) joining and leaving. No sockets."""

from __future__ import annotations

import pytest

from kvserver.keyspace import DEL, EXPIRED, NEW, OVERWRITTEN, KeyListener, Keyspace
from kvserver.protocol import PONG, NullArray
from tests.support import Harness


class Recorder(KeyListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        self.writing_keys: list[bytes] = []
        self.flushes: list[int] = []

    def key_changed(self, event: str, key: bytes) -> None:
        self.events.append((event, key))

    def writing(self, key: bytes) -> None:
        self.writing_keys.append(key)

    def flushed(self, keyspace: Keyspace) -> None:
        self.flushes.append(len(keyspace))  # the keys are still there

    def take(self) -> list[tuple[str, bytes]]:
        events, self.events = self.events, []
        return events


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def rec(h: Harness) -> Recorder:
    recorder = Recorder()
    h.db.keyspace.subscribe(recorder)
    return recorder


def test_the_keyspace_announces_what_it_stores_and_removes() -> None:
    now = [1000]
    ks = Keyspace(lambda: now[0])
    rec = Recorder()
    ks.subscribe(rec)
    ks.set(b"a", b"1")
    ks.set(b"a", b"2")
    ks.set_keep_ttl(b"b", b"1")
    assert ks.delete(b"b") is True
    assert ks.delete(b"missing") is False
    ks.set(b"lazy", b"v", 1500)
    ks.set(b"active", b"v", 1500)
    now[0] = 1500
    assert ks.get(b"lazy") is None
    assert ks.purge_expired(now[0], 10) == 1
    assert rec.take() == [
        (NEW, b"a"),
        (OVERWRITTEN, b"a"),
        (NEW, b"b"),
        (DEL, b"b"),
        (NEW, b"lazy"),
        (NEW, b"active"),
        (EXPIRED, b"lazy"),
        (EXPIRED, b"active"),
    ]
    ks.clear()
    assert rec.flushes == [1]
    ks.unsubscribe(rec)
    ks.set(b"after", b"v")
    assert rec.take() == []


def test_in_place_writes_are_announced_with_the_command_name(h: Harness, rec: Recorder) -> None:
    h("RPUSH", "l", "a")
    assert rec.take() == [(NEW, b"l"), ("rpush", b"l")]
    h("RPUSH", "l", "b")
    h("HSET", "h", "f", "v")
    h("HSET", "h", "f", "w")
    assert rec.take() == [("rpush", b"l"), (NEW, b"h"), ("hset", b"h"), ("hset", b"h")]


def test_no_ops_announce_nothing(h: Harness, rec: Recorder) -> None:
    h("SET", "k", "v")
    h("SADD", "s", "a")
    rec.take()
    h("SET", "k", "w", "NX")
    h("SADD", "s", "a")
    h("SREM", "s", "zz")
    h("LPUSHX", "nolist", "x")
    h("DEL", "missing")
    h("EXPIRE", "missing", "10")
    h("GET", "k")
    assert rec.take() == []


def test_only_the_keys_a_command_changed_are_announced(h: Harness, rec: Recorder) -> None:
    h("SET", "a", "1")
    h("SADD", "s1", "x")
    h("RPUSH", "q", "x")
    rec.take()
    h("DEL", "a", "missing")
    assert rec.take() == [(DEL, b"a"), ("del", b"a")]
    h("SET", "src", "v")
    rec.take()
    h("COPY", "src", "dst")
    assert {key for _, key in rec.take()} == {b"dst"}
    h("SINTERSTORE", "out", "s1", "s1")
    assert {key for _, key in rec.take()} == {b"out"}
    h("BLPOP", "q", "empty", "0")
    assert {key for _, key in rec.take()} == {b"q"}
    h("RENAME", "src", "moved")
    assert {key for _, key in rec.take()} == {b"src", b"moved"}


def test_keys_are_announced_before_a_write_command_runs(h: Harness, rec: Recorder) -> None:
    h("GET", "k")
    h("MSET", "a", "1", "b", "2")
    assert rec.writing_keys == [b"a", b"b"]  # reads are not announced


def test_expiry_through_a_command_and_flushall(h: Harness, rec: Recorder) -> None:
    h("SET", "k", "v", "PX", "10")
    rec.take()
    h.clock.now += 10
    assert h("GET", "k") is None
    assert rec.take() == [(EXPIRED, b"k")]
    assert h.records()[-1] == [b"DEL", b"k"]
    h("SET", "x", "1")
    h("FLUSHALL")
    assert rec.flushes == [1]


def test_watch_and_blocked_clients_subscribe_only_while_needed(h: Harness) -> None:
    ks = h.db.keyspace
    h("SET", "k", "v")
    assert ks.listeners == []  # nobody watches or waits: a write announces nothing
    h("WATCH", "k")
    assert ks.listeners == [h.db.watches.dbs[0]]
    h("UNWATCH")
    assert ks.listeners == []
    waiter = h.new_client()
    h("BLPOP", "q", "0", client=waiter)
    assert ks.listeners == [h.db.blocking]
    h("RPUSH", "q", "x")
    assert waiter.blocked is None
    assert ks.listeners == []


@pytest.mark.parametrize(
    "creation",
    [
        [("RENAME", "src", "q")],
        [("COPY", "src", "q")],
        [("SET", "q", "s"), ("RENAME", "src", "q")],
        [("LMOVE", "src", "q", "LEFT", "LEFT")],
        [("MULTI",), ("RENAME", "src", "q"), ("EXEC",)],
    ],
    ids=["rename", "copy", "rename-over-string", "lmove", "multi-rename"],
)
def test_a_key_created_by_any_command_serves_its_waiters(h: Harness, creation: list[tuple[str, ...]]) -> None:
    waiter = h.new_client()
    delivered: list[object] = []
    waiter.on_unblocked = delivered.append
    h("RPUSH", "src", "x")
    h("BLPOP", "q", "0", client=waiter)
    for command in creation:
        h(*command)
    assert delivered == [[b"q", b"x"]]
    assert h.db.blocking.waiting == {}


def test_watch_dirty_after_the_keys_changes_not_after_others(h: Harness) -> None:
    other = h.new_client()
    h("SET", "k", "v")
    h("WATCH", "k")
    h("SET", "unrelated", "v", client=other)
    h("SET", "k", "v", "NX", client=other)
    h("MULTI")
    h("PING")
    assert h("EXEC") == [PONG]
    h("WATCH", "k")
    h("APPEND", "k", "x", client=other)
    h("MULTI")
    h("PING")
    assert h("EXEC") is NullArray
