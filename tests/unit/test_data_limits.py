"""Data commands whose cost must not grow with the value: APPEND/SETRANGE in place, random
picks and scans of big containers, LTRIM, huge negative counts. Through Database, no sockets."""

from __future__ import annotations

import pytest

from kvserver.keyspace import copy_value, dump_key
from kvserver.protocol import encode_reply
from tests.support import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_append_edits_the_value_in_place_and_readers_get_bytes(h: Harness) -> None:
    ks = h.db.keyspace
    assert h("APPEND", "k", "ab") == 2
    assert h("OBJECT", "ENCODING", "k") == b"embstr"
    assert h("APPEND", "k", "cd") == 4
    stored = ks.data[b"k"]
    assert h("APPEND", "k", "ef") == 6
    assert ks.data[b"k"] is stored  # no copy of the whole value per call
    assert h("SETRANGE", "k", "1", "XY") == 6
    assert h("SETRANGE", "k", "8", "!") == 9
    assert ks.data[b"k"] is stored
    got = h("GET", "k")
    assert type(got) is bytes
    assert got == b"aXYdef\x00\x00!"
    h("MULTI")
    h("GET", "k")
    h("APPEND", "k", "more")
    h("MGET", "k")
    replies = h("EXEC")
    assert replies == [b"aXYdef\x00\x00!", 13, [b"aXYdef\x00\x00!more"]]  # no shared buffer
    assert encode_reply(replies) == b"*3\r\n$9\r\naXYdef\x00\x00!\r\n:13\r\n*1\r\n$13\r\naXYdef\x00\x00!more\r\n"
    assert h("STRLEN", "k") == 13
    assert h("GETRANGE", "k", "-4", "-1") == b"more"
    assert h("TYPE", "k") == b"string"
    assert h("OBJECT", "ENCODING", "k") == b"raw"
    assert h("COPY", "k", "c") == 1
    h("APPEND", "c", "!")
    assert h("GET", "k") == b"aXYdef\x00\x00!more"
    assert copy_value(stored) is not stored
    assert dump_key(ks, b"k", stored) == [[b"SET", b"k", b"aXYdef\x00\x00!more"]]
    assert type(dump_key(ks, b"k", stored)[0][2]) is bytes
    assert h("SET", "n", "10") == b"OK"
    h("APPEND", "n", "5")
    assert h("INCR", "n") == 106
    assert h("GETDEL", "k") == b"aXYdef\x00\x00!more"


def test_setrange_on_a_missing_key_pads_with_zeros(h: Harness) -> None:
    assert h("SETRANGE", "k", "3", "ab") == 5
    assert h("GET", "k") == b"\x00\x00\x00ab"
    assert h("OBJECT", "ENCODING", "k") == b"raw"
    assert h("SETRANGE", "missing", "3", "") == 0
    assert h("EXISTS", "missing") == 0
    h("PEXPIRE", "k", "100000")
    h("APPEND", "k", "c")
    assert h("PTTL", "k") == 100000  # the conversion to a mutable value keeps the TTL


@pytest.mark.parametrize(
    ("start", "stop"), [("1", "-2"), ("0", "-1"), ("2", "3"), ("-3", "-1"), ("5", "2"), ("0", "0")]
)
def test_ltrim_keeps_the_range(h: Harness, start: str, stop: str) -> None:
    items = [str(i) for i in range(10)]
    h("RPUSH", "l", *items)
    want = h("LRANGE", "l", start, stop)
    stored = h.db.keyspace.data[b"l"]
    assert h("LTRIM", "l", start, stop) == b"OK"
    assert h("LRANGE", "l", "0", "-1") == want
    if want:
        assert h.db.keyspace.data[b"l"] is stored


def _decode(reply: object, resp3: bool = False) -> object:
    from kvserver.reply_parser import ReplyParser

    parser = ReplyParser()
    parser.feed(encode_reply(reply, resp3))
    return parser.next()


def test_huge_negative_counts_are_encoded_compactly(h: Harness) -> None:
    h("SADD", "s", "a", "b", "c")
    reply = h("SRANDMEMBER", "s", "-100000")
    assert type(reply) is memoryview  # encoded once: about 7 bytes per element, not ~60
    assert len(reply) < 100000 * 8
    items = _decode(reply)
    assert isinstance(items, list)
    assert len(items) == 100000
    assert set(items) == {b"a", b"b", b"c"}
    h("HSET", "h", "f", "v", "g", "w")
    flat = _decode(h("HRANDFIELD", "h", "-5000", "WITHVALUES"))
    assert isinstance(flat, list)
    assert len(flat) == 10000
    assert set(zip(flat[::2], flat[1::2], strict=True)) == {(b"f", b"v"), (b"g", b"w")}
    h.client.resp3 = True
    nested = _decode(h("ZRANDMEMBER", "z", "-5000", "WITHSCORES"), resp3=True)
    assert nested == []
    h("ZADD", "z", "1.5", "m")
    nested = _decode(h("ZRANDMEMBER", "z", "-5000", "WITHSCORES"), resp3=True)
    assert nested == [[b"m", 1.5]] * 5000
    h.client.resp3 = False
    big = [str(i) for i in range(3000)]
    h("SADD", "big", *big)
    picked = _decode(h("SRANDMEMBER", "big", "-2000"))  # fewer picks than members
    assert isinstance(picked, list)
    assert len(picked) == 2000
    assert set(picked) <= set(m.encode() for m in big)


def test_random_count_range_checks_are_redis(h: Harness) -> None:
    from tests.support import err

    h("HSET", "h", "f", "v")
    out_of_range = err("ERR value is out of range")
    assert h("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES") == out_of_range
    assert h("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES") == out_of_range
    assert h("HRANDFIELD", "h", "x", "FOO") == err("ERR value is not an integer or out of range")
    assert h("SRANDMEMBER", "s", "x", "FOO") == err("ERR syntax error")
    assert h("SRANDMEMBER", "h", "-9223372036854775808") == err(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )
    h("SADD", "s", "a")
    assert h("SRANDMEMBER", "s", "-9223372036854775807") == out_of_range  # the reply would be 64 EiB


def test_indexed_containers_dump_and_copy_through_the_registry(h: Harness) -> None:
    members = [b"m%d" % i for i in range(600)]
    h("SADD", "s", *members)
    h("HSET", "h", *[b for m in members for b in (m, b"v")])
    h("ZADD", "z", *[b for m in members for b in (b"1", m)])
    ks = h.db.keyspace
    for key, command in ((b"s", b"SADD"), (b"h", b"HSET"), (b"z", b"ZADD")):
        records = dump_key(ks, key, ks.data[key])
        assert {record[0] for record in records} == {command}
        replayed = Harness()
        for record in records:
            replayed(*record)
        assert replayed("TYPE", key) == h("TYPE", key)
        assert type(replayed.db.keyspace.data[key]) is type(ks.data[key])
        clone = copy_value(ks.data[key])
        assert clone == ks.data[key]
        assert clone is not ks.data[key]
        assert type(clone) is type(ks.data[key])
    assert h("OBJECT", "ENCODING", "s") == b"hashtable"
    assert h("OBJECT", "ENCODING", "h") == b"hashtable"
    assert h("OBJECT", "ENCODING", "z") == b"skiplist"
