"""Writes that touch another database than the selected one (SWAPDB, MOVE, COPY ... DB, EXEC
with SELECT) log records that replay to the same keyspace, and wake the clients blocked there.
In-process: the recorded log is framed and replayed by ``kvserver.replay.replay``."""

from __future__ import annotations

from kvserver.aof_format import HEADER, encode_frame
from kvserver.keyspace import dump_key
from kvserver.replay import replay
from tests.support import Harness

Snapshot = dict[tuple[int, bytes], list[tuple[bytes, ...]]]


def snapshot(h: Harness) -> Snapshot:
    """Every key of every database with the canonical commands that recreate it."""
    return {
        (db, key): [tuple(record) for record in dump_key(keyspace, key, keyspace.data[key])]
        for db, keyspace in h.db.keyspaces()
        for key in sorted(keyspace.data)
    }


def replayed(h: Harness) -> Snapshot:
    """The keyspace a fresh server gets by replaying what ``h`` logged."""
    loader = Harness()
    loader.clock.now = h.clock.now
    replay(loader.db, HEADER + b"".join(encode_frame(unit) for unit in h.log.units), progress=False)
    return snapshot(loader)


def test_swapdb_serves_the_blocked_clients_after_the_swapdb_record() -> None:
    h = Harness()
    h("RPUSH", "l", "a")
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("SELECT", "1", client=waiter)
    h("BLPOP", "l", "0", client=waiter)
    assert h("SWAPDB", "0", "1") == b"OK"
    assert replies == [[b"l", b"a"]]
    assert h.records() == [
        [b"RPUSH", b"l", b"a"],
        [b"SWAPDB", b"0", b"1"],
        [b"SELECT", b"1"],
        [b"LPOP", b"l"],
    ]
    assert snapshot(h) == {}
    assert replayed(h) == snapshot(h)


def test_an_expiry_found_in_the_target_of_move_is_logged_in_the_target_database() -> None:
    h = Harness()
    h("SET", "k", "v")
    h("SELECT", "1")
    h("SET", "k", "x", "PX", "10")
    h.clock.now += 10
    h("SELECT", "0")
    assert h("MOVE", "k", "1") == 1  # db 1's k expired: the move goes ahead
    assert h.records()[-3:] == [[b"DEL", b"k"], [b"SELECT", b"0"], [b"MOVE", b"k", b"1"]]  # DEL in db 1
    assert snapshot(h) == {(1, b"k"): [(b"SET", b"k", b"v")]}
    assert replayed(h) == snapshot(h)


def test_an_expiry_found_in_the_target_of_copy_db_is_logged_in_the_target_database() -> None:
    h = Harness()
    h("SET", "k", "v")
    h("SELECT", "2")
    h("SET", "k", "x", "PX", "10")
    h("SELECT", "0")
    assert h("SWAPDB", "2", "3") == b"OK"  # the keyspace with the deadline is db 3's now
    h.clock.now += 10
    assert h("COPY", "k", "k", "DB", "3") == 1
    assert h.records()[-4:] == [
        [b"SELECT", b"3"],
        [b"DEL", b"k"],
        [b"SELECT", b"0"],
        [b"COPY", b"k", b"k", b"DB", b"3", b"REPLACE"],
    ]
    assert snapshot(h) == {(0, b"k"): [(b"SET", b"k", b"v")], (3, b"k"): [(b"SET", b"k", b"v")]}
    assert replayed(h) == snapshot(h)
