"""Several databases (SELECT): each command runs on its client's keyspace; WATCH, blocked
clients, expiry, notifications and the log are per database. In-process, no sockets."""

from __future__ import annotations

import pytest

from kvserver.aof_format import HEADER, encode_frame
from kvserver.config import Config
from kvserver.protocol import NullArray
from kvserver.replay import replay
from kvserver.state import ClientState
from tests.support import Harness, err


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_databases_are_separate_keyspaces(h: Harness) -> None:
    other = h.new_client()
    assert h("SET", "k", "zero") == b"OK"
    assert h("SELECT", "3", client=other) == b"OK"
    assert h("GET", "k", client=other) is None
    assert h("SET", "k", "three", client=other) == b"OK"
    assert h("GET", "k") == b"zero"
    assert h("GET", "k", client=other) == b"three"
    assert h("DBSIZE", client=other) == 1
    assert sorted(h.db.dbs) == [0, 3]  # only the databases used exist


def test_unused_database_costs_nothing() -> None:
    h = Harness(Config(databases=1000))
    assert h("SELECT", "999") == b"OK"
    assert list(h.db.dbs) == [0]  # selecting creates nothing: the first command there does
    h("GET", "k")
    assert sorted(h.db.dbs) == [0, 999]


def test_flushdb_clears_the_selected_database_flushall_every_one(h: Harness) -> None:
    other = h.new_client()
    h("SET", "a", "1")
    h("SELECT", "1", client=other)
    h("SET", "b", "1", client=other)
    assert h("FLUSHDB", client=other) == b"OK"
    assert h("DBSIZE", client=other) == 0
    assert h("GET", "a") == b"1"
    h("SET", "b", "1", client=other)
    assert h("FLUSHALL") == b"OK"
    assert h("DBSIZE") == 0
    assert h("DBSIZE", client=other) == 0


def test_watch_is_per_database(h: Harness) -> None:
    other = h.new_client()
    h("SELECT", "1", client=other)
    h("WATCH", "k")
    h("SET", "k", "elsewhere", client=other)  # the same name in another database
    h("MULTI")
    h("PING")
    assert h("EXEC") == [b"PONG"]
    h("WATCH", "k")
    h("SELECT", "1")  # watching in db 0 still counts after SELECT, as in Redis
    h("SET", "k", "zero", client=h.new_client())
    h("MULTI")
    h("PING")
    assert h("EXEC") is NullArray


def test_watched_key_expiring_in_its_database_fails_exec(h: Harness) -> None:
    h("SELECT", "2")
    h("SET", "k", "v", "PX", "10")
    h("WATCH", "k")
    h("SELECT", "0")
    h.clock.now += 10
    h("MULTI")
    h("PING")
    assert h("EXEC") is NullArray


def test_blocked_client_is_served_from_its_own_database(h: Harness) -> None:
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("SELECT", "5", client=waiter)
    assert h("BLPOP", "q", "0", client=waiter) is not None
    assert waiter.blocked is not None
    h("RPUSH", "q", "zero")  # db 0: not its list
    assert len(h.db.slot(5).blocking) == 1  # still parked
    h("SELECT", "5")
    h("RPUSH", "q", "five")
    assert len(h.db.slot(5).blocking) == 0
    assert replies == [[b"q", b"five"]]
    h("SELECT", "0")
    assert h("LRANGE", "q", "0", "-1") == [b"zero"]


def test_closing_a_blocked_client_in_another_database_unparks_it(h: Harness) -> None:
    waiter = h.new_client()
    h("SELECT", "4", client=waiter)
    h("BLPOP", "q", "0", client=waiter)
    h.db.client_closed(waiter)
    assert len(h.db.slot(4).blocking) == 0


def test_the_log_says_which_database_each_write_belongs_to(h: Harness) -> None:
    h("SET", "a", "1")
    h("SELECT", "2")
    h("SET", "b", "2")
    h("SET", "c", "3")
    h("SELECT", "0")
    h("SET", "d", "4")
    assert [r[:2] for r in h.records()] == [
        [b"SET", b"a"],
        [b"SELECT", b"2"],
        [b"SET", b"b"],
        [b"SET", b"c"],
        [b"SELECT", b"0"],
        [b"SET", b"d"],
    ]
    assert h.log.units[1][0] == [b"SELECT", b"2"]  # in the unit of the write it announces


def test_a_transaction_with_select_logs_each_write_in_its_database(h: Harness) -> None:
    h("MULTI")
    h("SET", "a", "1")
    h("SELECT", "7")
    h("SET", "b", "2")
    assert h("EXEC") == [b"OK", b"OK", b"OK"]
    assert [r[:2] for r in h.log.units[-1]] == [[b"SET", b"a"], [b"SELECT", b"7"], [b"SET", b"b"]]
    assert h.client.db == 7
    assert h("GET", "b") == b"2"


def test_lazy_expiry_is_logged_in_its_database(h: Harness) -> None:
    h("SELECT", "3")
    h("SET", "k", "v", "PX", "10")
    h("SELECT", "0")
    h("SET", "x", "1")
    h.clock.now += 10
    h("SELECT", "3")
    assert h("GET", "k") is None
    assert h.records()[-2:] == [[b"SELECT", b"3"], [b"DEL", b"k"]]


def _image(h: Harness) -> bytes:
    return HEADER + b"".join(encode_frame(unit) for unit in h.log.units)


def test_a_multi_database_log_replays_into_each_database(h: Harness) -> None:
    h("SET", "a", "zero")
    h("SELECT", "9")
    h("SET", "a", "nine")
    h("RPUSH", "l", "x")
    loader = Harness()
    replay(loader.db, _image(h), progress=False)
    assert loader("GET", "a") == b"zero"
    loader("SELECT", "9")
    assert loader("GET", "a") == b"nine"
    assert loader("LRANGE", "l", "0", "-1") == [b"x"]
    # the next write after a replay says its database, whatever the log's last SELECT was
    loader("SELECT", "0")
    loader("SET", "b", "1")
    assert loader.records() == [[b"SELECT", b"0"], [b"SET", b"b", b"1"]]


def test_a_log_without_select_loads_into_database_0() -> None:
    image = HEADER + encode_frame([[b"SET", b"k", b"v"]]) + encode_frame([[b"RPUSH", b"l", b"x"]])
    loader = Harness()
    replay(loader.db, image, progress=False)
    assert loader("GET", "k") == b"v"
    assert sorted(loader.db.dbs) == [0]


def test_reset_selects_database_0_and_client_info_shows_it(h: Harness) -> None:
    h("SELECT", "6")
    info = h("CLIENT", "INFO")
    assert isinstance(info, bytes)
    assert b" db=6 " in info
    h("RESET")
    assert h.client.db == 0


def test_monitor_lines_show_the_database(h: Harness) -> None:
    lines: list[bytes] = []
    monitor = h.new_client()
    monitor.push = lines.append
    h("MONITOR", client=monitor)
    h("SELECT", "3")
    assert b"[3 " in lines[-1]  # SELECT's own line shows the database it selected, as Redis's
    h("SET", "k", "v")
    assert b"[3 " in lines[-1]
    assert lines[-1].endswith(b'"SET" "k" "v"\r\n')
    h("MULTI")
    h("SELECT", "5")
    h("SET", "k", "v")
    h("EXEC")
    assert [line.split(b"]")[0].split(b"[")[1][:1] for line in lines[-4:]] == [b"3", b"5", b"5", b"5"]


def test_notifications_name_the_database(h: Harness) -> None:
    h("CONFIG", "SET", "notify-keyspace-events", "KEA")
    subscriber: ClientState = h.new_client()
    messages: list[bytes] = []
    subscriber.push = messages.append
    h("PSUBSCRIBE", "__key*@*__:*", client=subscriber)
    h("SELECT", "4")
    h("SET", "k", "v")
    assert any(b"__keyspace@4__:k" in m for m in messages)
    assert any(b"__keyevent@4__:set" in m for m in messages)
    assert not any(b"@0__" in m for m in messages)


def test_info_keyspace_lists_every_non_empty_database(h: Harness) -> None:
    h("SET", "a", "1")
    h("SELECT", "3")
    h("SET", "b", "1", "EX", "100")
    h("SET", "c", "1")
    h("SELECT", "5")
    h("GET", "nothing")  # created, empty: not listed
    info = h("INFO", "keyspace")
    text = info.decode() if isinstance(info, bytes) else str(info)
    assert "db0:keys=1,expires=0" in text
    assert "db3:keys=2,expires=1" in text
    assert "db5" not in text


def test_move_takes_the_key_and_its_deadline_to_the_other_database(h: Harness) -> None:
    h("SET", "k", "v", "PX", "5000")
    assert h("MOVE", "k", "2") == 1
    assert h("EXISTS", "k") == 0
    h("SELECT", "2")
    assert h("GET", "k") == b"v"
    assert h("PTTL", "k") == 5000
    assert h("MOVE", "k", "2") == err("ERR source and destination objects are the same")
    assert h("MOVE", "missing", "0") == 0
    h("SELECT", "0")
    h("SET", "k", "here")
    h("SELECT", "2")
    assert h("MOVE", "k", "0") == 0  # the target exists: nothing moves
    assert h.records()[-2:] == [[b"MOVE", b"k", b"2"], [b"SET", b"k", b"here"]]  # logged in db 0


def test_move_and_copy_db_serve_a_client_blocked_in_the_target_database(h: Harness) -> None:
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("SELECT", "1", client=waiter)
    h("BLPOP", "q", "r", "0", client=waiter)
    h("RPUSH", "q", "moved")
    assert h("MOVE", "q", "1") == 1
    assert replies == [[b"q", b"moved"]]
    h("BLPOP", "r", "0", client=waiter)
    h("RPUSH", "r", "copied")
    assert h("COPY", "r", "r", "DB", "1") == 1
    assert replies[-1] == [b"r", b"copied"]
    assert h("LRANGE", "r", "0", "-1") == [b"copied"]  # the source stays


def test_copy_db_replace_and_its_log_record(h: Harness) -> None:
    h("SET", "src", "v")
    h("SELECT", "3")
    h("SET", "dst", "old")
    h("SELECT", "0")
    assert h("COPY", "src", "dst", "DB", "3") == 0
    assert h("COPY", "src", "dst", "DB", "3", "REPLACE") == 1
    assert h("COPY", "src", "src", "DB", "0") == err("ERR source and destination objects are the same")
    assert h("COPY", "src", "x", "DB", "16") == err("ERR DB index is out of range")
    assert h.records()[-1] == [b"COPY", b"src", b"dst", b"DB", b"3", b"REPLACE"]
    h("SELECT", "3")
    assert h("GET", "dst") == b"v"


def test_swapdb_exchanges_keyspaces_blocked_clients_and_watches_stay_with_the_number(h: Harness) -> None:
    h("SET", "k", "zero")
    h("SELECT", "1")
    h("RPUSH", "q", "from-one")
    h("SELECT", "0")
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("BLPOP", "q", "0", client=waiter)  # in db 0, where q doesn't exist
    watcher = h.new_client()
    h("SELECT", "1", client=watcher)
    h("WATCH", "nothing-here", "k", client=watcher)  # k: only in db 0 before the swap
    assert h("SWAPDB", "0", "1") == b"OK"
    assert replies == [[b"q", b"from-one"]]  # db 0 now holds q: the waiter is served
    assert h("GET", "k") is None
    h("SELECT", "1")
    assert h("GET", "k") == b"zero"
    h("MULTI", client=watcher)
    h("PING", client=watcher)
    assert h("EXEC", client=watcher) is NullArray  # a watched key of db 1 was replaced
    assert h("SWAPDB", "0", "x") == err("ERR invalid second DB index")
    assert h("SWAPDB", "x", "0") == err("ERR invalid first DB index")
    assert h("SWAPDB", "0", "16") == err("ERR DB index is out of range")
    h("SET", "after", "swap")  # the keyspace now in db 1 announces to db 1's listeners
    assert h.records()[-4:] == [  # the waiter is served after the SWAPDB record (replay pops after it too)
        [b"SWAPDB", b"0", b"1"],
        [b"LPOP", b"q"],
        [b"SELECT", b"1"],
        [b"SET", b"after", b"swap"],
    ]
    loader = Harness()
    replay(loader.db, _image(h), progress=False)
    loader("SELECT", "1")
    assert loader("GET", "k") == b"zero"
    assert loader("GET", "after") == b"swap"


def test_swapdb_moves_notifications_with_the_number(h: Harness) -> None:
    h("CONFIG", "SET", "notify-keyspace-events", "KEA")
    messages: list[bytes] = []
    subscriber = h.new_client()
    subscriber.push = messages.append
    h("PSUBSCRIBE", "__keyspace@*__:*", client=subscriber)
    h("SET", "k", "v")
    h("SWAPDB", "0", "5")
    messages.clear()
    h("SELECT", "5")
    h("SET", "k", "w")
    assert any(b"__keyspace@5__:k" in m for m in messages)
    assert not any(b"@0__" in m for m in messages)
