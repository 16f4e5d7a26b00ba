"""Writes that touch another database than the selected one (SWAPDB, MOVE, COPY ... DB, EXEC
with SELECT) log records that replay to the same keyspace, and wake the clients blocked there.
In-process: the recorded log is framed and replayed by ``kvserver.replay.replay``."""

from __future__ import annotations

from kvserver.aof_format import HEADER, encode_frame
from kvserver.keyspace import dump_key
from kvserver.replay import replay
from kvserver.state import ClientState
from tests.support import Harness, RecordingLog

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


def blocked(h: Harness, db: str, key: str) -> tuple[ClientState, list[object]]:
    """A new client blocked in ``BLPOP key 0`` in database ``db``, and the list its replies go to."""
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("SELECT", db, client=waiter)
    h("BLPOP", key, "0", client=waiter)
    return waiter, replies


def expiring_in(db: str) -> Harness:
    """k in db 0, and a k in ``db`` with a deadline 10 ms away; db 0 selected."""
    h = Harness()
    h("SET", "k", "v")
    h("SELECT", db)
    h("SET", "k", "x", "PX", "10")
    h("SELECT", "0")
    return h


def test_swapdb_serves_the_blocked_clients_after_the_swapdb_record() -> None:
    h = Harness()
    h("RPUSH", "l", "a")
    _, replies = blocked(h, "1", "l")
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
    h = expiring_in("1")
    h.clock.now += 10
    assert h("MOVE", "k", "1") == 1  # db 1's k expired: the move goes ahead
    assert h.records()[-3:] == [[b"DEL", b"k"], [b"SELECT", b"0"], [b"MOVE", b"k", b"1"]]  # DEL in db 1
    assert snapshot(h) == {(1, b"k"): [(b"SET", b"k", b"v")]}
    assert replayed(h) == snapshot(h)


def test_an_expiry_found_in_the_target_of_copy_db_is_logged_in_the_target_database() -> None:
    h = expiring_in("2")
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


class RewritingLog(RecordingLog):
    """A RecordingLog whose BGREWRITEAOF/BGSAVE starts a rewrite as the AOF's does: the
    dump of every database (each after its SELECT) is the new log's first frame, the units
    written from then on are carried after it, and the database is told to forget its SELECT."""

    def __init__(self, h: Harness) -> None:
        super().__init__()
        self.h = h
        self.rewritten: list[list[list[bytes]]] | None = None
        self.carried_from = 0

    def start_rewrite(self) -> str:
        dump: list[list[bytes]] = []
        for index, keyspace in self.h.db.keyspaces():
            dump.append([b"SELECT", b"%d" % index])
            for key in sorted(keyspace.data):
                dump.extend(dump_key(keyspace, key, keyspace.data[key]))
        self.rewritten = [dump]
        self.carried_from = len(self.units)
        self.h.db.forget_logged_db()
        return "Background append only file rewriting started"

    def new_log(self) -> bytes:
        assert self.rewritten is not None
        units = self.rewritten + self.units[self.carried_from :]
        return HEADER + b"".join(encode_frame(unit) for unit in units)


def test_a_rewrite_started_inside_multi_keeps_the_unit_in_its_database() -> None:
    for starter in (("BGREWRITEAOF",), ("BGSAVE",)):  # (SAVE is refused inside MULTI)
        h = Harness()
        log = h.log = h.db.persistence = RewritingLog(h)
        h("SELECT", "5")
        h("SET", "z", "1")
        h("SELECT", "3")
        h("SET", "x", "1")
        h("MULTI")
        h("SET", "a", "1")
        h(*starter)
        h("SET", "b", "2")
        replies = h("EXEC")
        assert isinstance(replies, list), (starter, replies)
        assert len(replies) == 3, (starter, replies)
        assert log.units[-1][:2] == [[b"SELECT", b"3"], [b"SET", b"a", b"1"]], starter
        assert replayed(h) == snapshot(h), starter  # the old log
        loader = Harness()
        replay(loader.db, log.new_log(), progress=False)
        assert snapshot(loader) == snapshot(h), starter  # the rewritten one (the dump ends in db 5)
        assert (3, b"a") in snapshot(loader)
        assert (5, b"a") not in snapshot(loader)


def test_exec_serves_the_clients_blocked_in_every_database_it_wrote_in() -> None:
    h = Harness()
    waiter, replies = blocked(h, "1", "l")
    h("MULTI")
    for step in (("SELECT", "1"), ("LPUSH", "l", "x"), ("SELECT", "2"), ("SET", "y", "1")):
        assert h(*step) == b"QUEUED"
    assert h("EXEC") == [b"OK", 1, b"OK", b"OK"]
    assert replies == [[b"l", b"x"]]  # served though the EXEC ended in db 2
    assert waiter.blocked is None
    assert h.log.units[-2:] == [  # the pop after the transaction's unit, in its database
        [[b"SELECT", b"1"], [b"LPUSH", b"l", b"x"], [b"SELECT", b"2"], [b"SET", b"y", b"1"]],
        [[b"SELECT", b"1"], [b"LPOP", b"l"]],
    ]
    assert snapshot(h) == {(2, b"y"): [(b"SET", b"y", b"1")]}
    assert replayed(h) == snapshot(h)


def test_move_inside_multi_serves_the_target_database_after_the_exec() -> None:
    h = Harness()
    _, replies = blocked(h, "3", "q")
    h("RPUSH", "q", "a")
    h("MULTI")
    h("MOVE", "q", "3")
    h("SET", "after", "1")
    assert h("EXEC") == [1, b"OK"]
    assert replies == [[b"q", b"a"]]
    assert h.log.units[-1] == [[b"SELECT", b"3"], [b"LPOP", b"q"]]  # after the whole unit, as Redis
    assert replayed(h) == snapshot(h)
