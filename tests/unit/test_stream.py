"""The stream structure against a plain model, and the stream commands in-process: ids, trims
(exact and Redis's whole-node approximate ones), canonical log records and their replay."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvserver.config import Config
from kvserver.keyspace import copy_value, dump_key, type_name
from kvserver.protocol import NullArray
from kvserver.stream import MAX64, MAX_ID, Stream, format_id, make_id, parse_id
from tests.support import Harness, err, read_all

# operations: (0, ms) append at ms-*, (1, index) delete the index-th entry, (2, maxlen) exact trim
operations = st.lists(
    st.one_of(
        st.tuples(st.just(0), st.integers(0, 5)),
        st.tuples(st.just(1), st.integers(0, 40)),
        st.tuples(st.just(2), st.integers(0, 30)),
    ),
    max_size=80,
)


def build(ops: list[tuple[int, int]], node_entries: int = 3) -> tuple[Stream, list[int]]:
    stream, model = Stream(), []
    clock = 0
    for op, arg in ops:
        if op == 0:
            clock += arg
            stream_id = stream.next_id(clock)
            assert stream_id is not None
            stream.append(stream_id, [b"f", b"%d" % stream_id], node_entries, 0)
            model.append(stream_id)
        elif op == 1 and model:
            victim = model.pop(arg % len(model))
            assert stream.delete(victim)
            assert not stream.delete(victim)
        elif op == 2:
            removed = stream.trim(arg, None, False, 0)
            assert removed == max(0, len(model) - arg)
            del model[: max(0, len(model) - arg)]
    return stream, model


@given(operations)
def test_entries_and_ranges_match_the_model(ops: list[tuple[int, int]]) -> None:
    stream, model = build(ops)
    assert [i for i, _ in stream.range(0, MAX_ID)] == model
    assert len(stream) == len(model)
    assert stream.first_id == (model[0] if model else 0)
    assert sum(node.live for node in stream.nodes) == len(model)
    if model:
        low, high = model[len(model) // 3], model[2 * len(model) // 3]
        assert [i for i, _ in stream.range(low, high)] == [i for i in model if low <= i <= high]
        assert [i for i, _ in stream.range(low, high, 2, reverse=True)] == [i for i in model if low <= i <= high][::-1][
            :2
        ]
    assert stream.copy() == stream


@given(operations, st.integers(0, 30))
def test_minid_trim_removes_exactly_the_smaller_ids(ops: list[tuple[int, int]], pick: int) -> None:
    stream, model = build(ops)
    minid = model[pick % len(model)] if model else 5
    removed = stream.trim(None, minid, False, 0)
    assert removed == sum(1 for i in model if i < minid)
    assert [i for i, _ in stream.range(0, MAX_ID)] == [i for i in model if i >= minid]


def test_ids_parse_and_format_as_redis_does() -> None:
    assert parse_id(b"5") == make_id(5, 0)
    assert parse_id(b"5", MAX64) == make_id(5, MAX64)
    assert parse_id(b"18446744073709551615-18446744073709551615") == MAX_ID
    assert parse_id(b"18446744073709551616-0") is None
    assert parse_id(b"-") == 0
    assert parse_id(b"+") == MAX_ID
    assert parse_id(b"-", strict=True) is None
    for bad in (b"", b"1-", b"-1", b"-0", b"1-x", b"1-2-3", b"1 ", b"0x1", b"1.5", b"++1", b"1-18446744073709551616"):
        assert parse_id(bad) is None, bad
    # strtoull's leniency, as Redis's string2ull falls back to it
    lenient = {b"01": make_id(1, 0), b"+1": make_id(1, 0), b" 1": make_id(1, 0), b"1- 2": make_id(1, 2), b"00": 0}
    for raw, stream_id in lenient.items():
        assert parse_id(raw) == stream_id, raw
    assert format_id(make_id(1, 2)) == b"1-2"


def approximate(node_entries: int, adds: int, maxlen: int, limit: int) -> int:
    """XADD ``adds`` entries into nodes of ``node_entries``, then MAXLEN ~ maxlen [LIMIT]: the length left."""
    stream = Stream()
    for ms in range(1, adds + 1):
        stream.append(make_id(ms, 0), [b"xitem", b"v"], node_entries, 4096)
    stream.trim(maxlen, None, True, limit)
    return len(stream)


def test_approximate_trims_remove_whole_nodes_as_redis_does() -> None:
    # the lengths Redis's own tests (unit/type/stream) expect
    assert approximate(100, 1000, 555, 10000) == 600
    assert approximate(10, 101, 55, 30) == 71  # XADD adds the 101st, then trims
    assert approximate(1, 102, 1, 100) == 2
    assert approximate(2, 3, 0, 1) == 3


def test_a_node_emptied_by_xdel_goes() -> None:
    stream = Stream()
    for ms in range(1, 5):
        stream.append(make_id(ms, 0), [b"f", b"v"], 2, 0)
    assert len(stream.nodes) == 2
    stream.delete(make_id(1, 0))
    stream.delete(make_id(2, 0))
    assert [node.first for node in stream.nodes] == [make_id(3, 0)]
    assert stream.max_deleted_id == make_id(2, 0)
    assert stream.first_id == make_id(3, 0)


# --- the commands in-process ---------------------------------------------------------------------


def test_the_type_is_registered_once_for_type_copy_and_dump() -> None:
    h = Harness()
    h("XADD", "s", "1-1", "a", "b")
    value = h.db.keyspace.get(b"s")
    assert type_name(value) == "stream"
    assert h("OBJECT", "ENCODING", "s") == b"stream"
    assert h("TYPE", "s") == b"stream"
    h("SET", "str", "v")
    assert h("SCAN", "0", "TYPE", "stream") == [b"0", [b"s"]]
    assert h("COPY", "s", "t") == 1
    assert h("XRANGE", "t", "-", "+") == h("XRANGE", "s", "-", "+")
    clone = copy_value(value)
    assert clone == value
    assert clone is not value
    assert dump_key(h.db.keyspace, b"s", value)[0] == [b"XADD", b"s", b"1-1", b"a", b"b"]


def test_xadd_logs_the_resolved_id_and_an_exact_trim() -> None:
    h = Harness()
    assert h("XADD", "s", "*", "f", "v") == b"%d-0" % h.clock.now
    assert h("XADD", "s", "5-*", "f", "v") == err(
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    )
    h.clock.now += 1
    for _ in range(250):
        h("XADD", "s", "MAXLEN", "~", "120", "*", "f", "v")
    # the first node of 100 went at 220 entries, when it could go whole: 120 left, then 31 more
    assert h("XLEN", "s") == 151
    records = h.records()
    assert records[0] == [b"XADD", b"s", b"%d-0" % (h.clock.now - 1), b"f", b"v"]
    trimmed = [r for r in records if b"MAXLEN" in r]
    assert len(trimmed) == 1
    assert trimmed[0][2:5] == [b"MAXLEN", b"=", b"120"]
    assert all(b"*" not in r and b"~" not in r for r in records)


def replay(records: list[list[bytes]], now: int | None = None) -> Harness:
    """A fresh database that ran ``records`` (at ``now``: a replay happens later than the writes)."""
    fresh = Harness()
    if now is not None:
        fresh.clock.now = now
    fresh.db.logging = False
    for record in records:
        fresh(*record)
    return fresh


def test_replaying_the_log_gives_the_same_stream_groups_and_pel() -> None:
    h = Harness(Config())
    for _ in range(20):
        h("XADD", "s", "*", "f", "v")
        h.clock.now += 1
    h("XGROUP", "CREATE", "s", "g", "$")
    h("XGROUP", "CREATE", "s", "h", "0")
    h("XADD", "s", "*", "f", "w")
    h("XREADGROUP", "GROUP", "h", "alice", "COUNT", "5", "STREAMS", "s", ">")
    h("XREADGROUP", "GROUP", "h", "bob", "NOACK", "COUNT", "2", "STREAMS", "s", ">")
    h("XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">")
    h.clock.now += 50
    h("XCLAIM", "s", "h", "dave", "10", b"%d-0" % (h.clock.now - 70))
    h("XACK", "s", "h", b"%d-0" % (h.clock.now - 69))
    h("XDEL", "s", b"%d-0" % (h.clock.now - 68))
    h("XTRIM", "s", "MAXLEN", "~", "3")
    h("XREADGROUP", "GROUP", "h", "alice", "STREAMS", "s", "0")
    again = replay(h.records(), h.clock.now)
    for command in (
        ("XINFO", "GROUPS", "s"),
        ("XPENDING", "s", "h"),
        ("XPENDING", "s", "h", "-", "+", "100"),
        ("XRANGE", "s", "-", "+"),
    ):
        assert again(*command) == h(*command), command
    assert without_seen_time(again("XINFO", "STREAM", "s", "FULL")) == without_seen_time(
        h("XINFO", "STREAM", "s", "FULL")
    )
    rewritten = replay(dump_key(h.db.keyspace, b"s", h.db.keyspace.get(b"s")), h.clock.now)
    assert rewritten("XRANGE", "s", "-", "+") == h("XRANGE", "s", "-", "+")
    assert rewritten("XINFO", "GROUPS", "s") == h("XINFO", "GROUPS", "s")
    assert rewritten("XPENDING", "s", "h", "-", "+", "100") == h("XPENDING", "s", "h", "-", "+", "100")


def without_seen_time(info: object) -> object:
    """XINFO STREAM FULL without the consumers' seen times (not logged, as in Redis)."""
    assert isinstance(info, dict)
    for group in info[b"groups"]:
        for consumer in group[b"consumers"]:
            del consumer[b"seen-time"]
    return info


def test_an_empty_stream_with_a_last_id_survives_the_rewrite() -> None:
    h = Harness()
    h("XADD", "s", "5-5", "f", "v")
    h("XDEL", "s", "5-5")
    h("XGROUP", "CREATE", "e", "g", "$", "MKSTREAM")
    for key in (b"s", b"e"):
        again = replay(dump_key(h.db.keyspace, key, h.db.keyspace.get(key)))
        assert again("XINFO", "STREAM", key) == h("XINFO", "STREAM", key)
    logged = replay(h.records())  # XGROUP CREATE ... MKSTREAM made the key: its record does too
    assert logged("XINFO", "GROUPS", "e") == h("XINFO", "GROUPS", "e")


def test_blocking_xread_inside_multi_answers_at_once() -> None:
    h = Harness()
    h("MULTI")
    h("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    assert h("EXEC") == [NullArray]


def test_xread_count_huge_and_xinfo_full_count_zero_are_bounded_by_the_stream() -> None:
    h = Harness()
    for ms in range(1, 4):
        h("XADD", "s", f"{ms}-0", "f", "v")
    reply = h("XRANGE", "s", "-", "+", "COUNT", "9223372036854775807")
    assert isinstance(reply, memoryview)  # (XRANGE encodes its entries itself)
    assert read_all(bytes(reply)) == [[[b"%d-0" % ms, [b"f", b"v"]] for ms in range(1, 4)]]
    assert h("XADD", "s", "MAXLEN", "9223372036854775807", "*", "f", "v") is not None
    info = h("XINFO", "STREAM", "s", "FULL", "COUNT", "0")
    assert isinstance(info, dict)
    assert len(info[b"entries"]) == 4
