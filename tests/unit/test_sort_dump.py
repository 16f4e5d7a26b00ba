"""SORT / SORT_RO and DUMP / RESTORE in-process: the order and the clamps sort.c applies, the
weights strtod accepts, COMMAND GETKEYS, and the canonical records SORT ... STORE and RESTORE log
(one unit each, replayed to the same keyspace)."""

from __future__ import annotations

import math
from collections import deque

import pytest

from kvserver.aof_format import HEADER, encode_frame
from kvserver.commands.sort import sort_keys, strtod_score
from kvserver.keyspace import dump_key
from kvserver.protocol import OK, NullArray
from kvserver.replay import replay
from tests.support import Harness, err


def replayed(h: Harness) -> dict[bytes, list[list[bytes]]]:
    loader = Harness()
    loader.clock.now = h.clock.now
    replay(loader.db, HEADER + b"".join(encode_frame(unit) for unit in h.log.units), progress=False)
    return snapshot(loader)


def snapshot(h: Harness) -> dict[bytes, list[list[bytes]]]:
    ks = h.db.keyspace
    return {key: dump_key(ks, key, ks.data[key]) for key in sorted(ks.data)}


@pytest.mark.parametrize(
    ("raw", "score"),
    [
        (b"1.5", 1.5),
        (b" \t7", 7.0),
        (b"", 0.0),
        (b"0x10", 16.0),
        (b"-inf", -math.inf),
        (b"infinity", math.inf),
        (b"1e308", 1e308),
        (b"12\0junk", 12.0),
        (b"0e99999", 0.0),
        (b"5.", 5.0),
        (b"-.5", -0.5),
    ],
)
def test_weights_strtod_accepts(raw: bytes, score: float) -> None:
    assert strtod_score(raw) == score


@pytest.mark.parametrize("raw", [b"1 ", b"abc", b"nan", b"1e400", b"1e-400", b"1e-310", b"0x", b"1_0", b"1e5x"])
def test_weights_strtod_refuses(raw: bytes) -> None:
    assert strtod_score(raw) is None


def test_getkeys_finds_the_last_store_and_skips_patterns() -> None:
    assert sort_keys([b"SORT", b"abc", b"STORE", b"def"]) == [b"abc", b"def"]
    assert sort_keys([b"SORT", b"abc", b"store", b"a", b"STORE", b"b", b"store", b"c"]) == [b"abc", b"c"]
    assert sort_keys([b"SORT", b"abc", b"BY", b"store", b"GET", b"store", b"LIMIT", b"store", b"x"]) == [b"abc"]
    h = Harness()
    assert h("COMMAND", "GETKEYS", "SORT", "abc", "STORE", "def") == [b"abc", b"def"]
    assert h("COMMAND", "GETKEYS", "SORT_RO", "abc") == [b"abc"]


def test_numeric_ties_break_on_the_element_and_desc_reverses_all() -> None:
    h = Harness()
    h("RPUSH", "l", "b", "a", "c", "d")
    h("MSET", "w_a", "1", "w_b", "1", "w_c", "0", "w_d", "x")
    assert h("SORT", "l", "BY", "w_*") == err("ERR One or more scores can't be converted into double")
    h("SET", "w_d", "1")
    assert h("SORT", "l", "BY", "w_*") == [b"c", b"a", b"b", b"d"]
    assert h("SORT", "l", "BY", "w_*", "DESC") == [b"d", b"b", b"a", b"c"]
    # ALPHA by a pattern: missing weights first, equal ones keep the input order
    h("DEL", "w_c")
    assert h("SORT", "l", "BY", "w_*", "ALPHA") == [b"c", b"b", b"a", b"d"]


def test_nosort_keeps_native_order_and_limit_clamps() -> None:
    h = Harness()
    h("ZADD", "z", "3", "a", "1", "b", "2", "c")
    assert h("SORT", "z", "BY", "nosort") == [b"b", b"c", b"a"]
    assert h("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "5") == [b"c", b"b"]
    h("RPUSH", "l", "3", "1", "2")
    assert h("SORT", "l", "BY", "nosort", "LIMIT", "-5", "2") == [b"3", b"1"]
    assert h("SORT", "l", "LIMIT", str(2**63 - 1), str(2**63 - 1)) == []
    assert h("SORT", "l", "LIMIT", "0", str(2**63 - 1)) == [b"1", b"2", b"3"]
    h("SADD", "s", "b", "a", "c")  # a set BY nosort with STORE is sorted ALPHA (replicas agree)
    assert h("SORT", "s", "BY", "nosort", "STORE", "dst") == 3
    assert h("LRANGE", "dst", "0", "-1") == [b"a", b"b", b"c"]


def test_get_patterns_and_hash_fields() -> None:
    h = Harness()
    h("RPUSH", "l", "1", "2")
    h("HSET", "o_1", "f", "x")
    h("SET", "o_2->", "y")  # "->" with no field after it is part of the key
    assert h("SORT", "l", "GET", "#", "GET", "o_*->f", "GET", "o_*->", "GET", "const") == [
        b"1",
        b"x",
        None,
        None,
        b"2",
        None,
        b"y",
        None,
    ]


def test_sort_ro_refuses_store_and_bad_options() -> None:
    h = Harness()
    h("RPUSH", "l", "1")
    assert h("SORT_RO", "l", "STORE", "x") == err("ERR syntax error")
    assert h("SORT", "l", "LIMIT", "1") == err("ERR syntax error")
    assert h("SORT", "l", "LIMIT", "a", "1") == err("ERR value is not an integer or out of range")
    h("SET", "str", "v")
    assert h("SORT", "str") == err("WRONGTYPE Operation against a key holding the wrong kind of value")


def test_store_logs_del_and_rpush_in_one_unit() -> None:
    h = Harness()
    h("RPUSH", "l", *[str(i) for i in range(1200)])
    h("SET", "dst", "old", "EX", "100")
    before = len(h.log.units)
    assert h("SORT", "l", "DESC", "STORE", "dst") == 1200
    assert len(h.log.units) == before + 1
    unit = h.log.units[-1]
    assert unit[0] == [b"DEL", b"dst"]
    assert [record[0] for record in unit[1:]] == [b"RPUSH"] * 3  # 512 elements per record
    assert h("TTL", "dst") == -1
    # an empty result deletes the destination, logged as DEL
    assert h("SORT", "missing", "STORE", "dst") == 0
    assert h.log.units[-1] == [[b"DEL", b"dst"]]
    assert h("SORT", "missing", "STORE", "dst") == 0
    assert len(h.log.units) == before + 2  # nothing to delete: nothing logged
    h("SORT", "l", "LIMIT", "0", "3", "STORE", "dst")
    assert replayed(h) == snapshot(h)


def test_store_inside_multi_stays_in_the_transaction_unit() -> None:
    h = Harness()
    h("RPUSH", "l", "2", "1")
    h("MULTI")
    h("SORT", "l", "STORE", "dst")
    h("SET", "after", "1")
    h("EXEC")
    assert len(h.log.units) == 2
    assert [record[0] for record in h.log.units[1]] == [b"DEL", b"RPUSH", b"SET"]
    assert replayed(h) == snapshot(h)


def test_restore_logs_the_value_commands() -> None:
    h = Harness()
    h("HSET", "h", "f", "v", "g", "w")
    payload = h("DUMP", "h")
    assert isinstance(payload, bytes)
    assert h("RESTORE", "copy", "5000", payload) == OK
    assert h.log.units[-1] == [
        [b"HSET", b"copy", b"f", b"v", b"g", b"w"],
        [b"PEXPIREAT", b"copy", b"%d" % (h.clock.now + 5000)],
    ]
    assert h("RESTORE", "copy", "0", payload) == err("BUSYKEY Target key name already exists.")
    assert h("RESTORE", "copy", "0", payload, "REPLACE") == OK
    assert h.log.units[-1] == [[b"DEL", b"copy"], [b"HSET", b"copy", b"f", b"v", b"g", b"w"]]
    assert h("TTL", "copy") == -1
    # a deadline in the past creates nothing; a REPLACE that removed the key logs its DEL
    assert h("RESTORE", "copy", "1", payload, "REPLACE", "ABSTTL") == OK
    assert h("EXISTS", "copy") == 0
    assert h.log.units[-1] == [[b"DEL", b"copy"]]
    assert replayed(h) == snapshot(h)


def test_restore_builds_the_kvserver_kinds() -> None:
    """A restored big set or hash is the indexed kind (O(1) random picks, stateless scans)."""
    h = Harness()
    h("SADD", "s", *[f"m{i}" for i in range(1000)])
    h("HSET", "h", *[f"f{i}" for i in range(2000)])
    h("RPUSH", "l", "a")
    for key in ("s", "h", "l"):
        payload = h("DUMP", key)
        assert isinstance(payload, bytes)
        h("RESTORE", f"{key}2", "0", payload)
        original, restored = h.db.keyspace.data[key.encode()], h.db.keyspace.data[f"{key}2".encode()]
        assert type(restored) is type(original)
        assert restored == original
    assert isinstance(h.db.keyspace.data[b"l2"], deque)
    assert h("SRANDMEMBER", "s2") in {f"m{i}".encode() for i in range(1000)}


def test_restore_option_errors_in_redis_order() -> None:
    h = Harness()
    h("SET", "k", "v")
    payload = h("DUMP", "k")
    assert isinstance(payload, bytes)
    assert h("RESTORE", "k", "-1", payload, "BOGUS") == err("ERR syntax error")
    assert h("RESTORE", "k", "-1", payload) == err("BUSYKEY Target key name already exists.")
    assert h("RESTORE", "n", "-1", payload) == err("ERR Invalid TTL value, must be >= 0")
    assert h("RESTORE", "n", "0", payload, "IDLETIME", "-1") == err("ERR Invalid IDLETIME value, must be >= 0")
    assert h("RESTORE", "n", "0", payload, "FREQ", "256") == err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    assert h("RESTORE", "n", "0", payload, "FREQ", "1", "IDLETIME", "1") == err("ERR syntax error")
    assert h("RESTORE", "n", "0", payload[:-1] + b"\0") == err("ERR DUMP payload version or checksum are wrong")
    assert h("RESTORE", "n", "0", payload, "IDLETIME", "10") == OK
    assert h("GET", "n") == b"v"


def test_a_client_blocked_on_the_destination_is_served_by_sort_store() -> None:
    h = Harness()
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("BLPOP", "dst", "0", client=waiter)
    h("RPUSH", "src", "2", "1")
    assert h("SORT", "src", "STORE", "dst") == 2
    assert replies == [[b"dst", b"1"]]
    assert h("LRANGE", "dst", "0", "-1") == [b"2"]
    assert h.log.units[-1] == [[b"LPOP", b"dst"]]


def test_restore_wakes_a_blocked_client_and_dirties_a_watch() -> None:
    h = Harness()
    h("RPUSH", "l", "x")
    payload = h("DUMP", "l")
    assert isinstance(payload, bytes)
    waiter = h.new_client()
    replies: list[object] = []
    waiter.on_unblocked = replies.append
    h("BLPOP", "copy", "0", client=waiter)
    watcher = h.new_client()
    h("WATCH", "copy", client=watcher)
    h("MULTI", client=watcher)
    h("SET", "copy", "mine", client=watcher)
    assert h("RESTORE", "copy", "0", payload) == OK
    assert replies == [[b"copy", b"x"]]
    assert h("EXEC", client=watcher) is NullArray  # the RESTORE touched the watched key
    assert h("EXISTS", "copy") == 0  # (its one element went to the blocked client)
