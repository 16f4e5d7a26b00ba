"""kvserver.rdb_stream: a stream's DUMP payload (RDB_TYPE_STREAM_LISTPACKS_2) round-trips with
its nodes, groups, PEL and consumers; Redis's bytes decode; the 6.x type 15 decodes; hostile
payloads (truncated, reordered, inconsistent, bit-flipped with a valid CRC) are BadPayload."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvserver import rdb, rdb_stream
from kvserver.stream import Group, Nack, Stream, make_id

LIMITS = rdb.Limits()

# redis-server 7.0.15 (rdbcompression no): XADD small 5-1 a 1; XADD small 5-2 a hello b 300;
# XGROUP CREATE small g 0; DUMP small
REDIS_PAYLOAD = bytes.fromhex(
    "130110000000000000000500000000000000013636000000130002010001010181610200010201000100010101"
    "040100010001010102018161028568656c6c6f06816202c12c020801ff0205020501000002010167000081ffff"
    "ffffffffffff00000a00338f399c63fab8ee"
)


def with_footer(body: bytes) -> bytes:
    body += rdb.RDB_VERSION.to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


def state(value: Stream) -> object:
    """Everything a stream holds, node bookkeeping included (sizes aside)."""
    groups = {
        name: (
            group.last_id,
            group.entries_read,
            [
                (i, None if n.consumer is None else n.consumer.name, n.delivery_time, n.delivery_count)
                for i, n in group.pel.items()
            ],
            {c.name: (c.seen_time, list(c.pel)) for c in group.consumers.values()},
        )
        for name, group in value.groups.items()
    }
    nodes = [(node.first, node.master, node.live) for node in value.nodes]
    meta = (value.last_id, value.first_id, value.max_deleted_id, value.entries_added)
    return list(value.range(0, make_id(2**64 - 1, 2**64 - 1))), nodes, meta, groups


def build(entries: int, node_entries: int = 100, node_bytes: int = 4096) -> Stream:
    value = Stream()
    for i in range(1, entries + 1):
        fields = [b"f", b"%d" % i, b"g", b"v" * (i % 40)] if i % 5 else [b"other", b"x" * i]
        value.append(make_id(1000 + i // 3, i), fields, node_entries, node_bytes)
    return value


def with_groups(value: Stream) -> Stream:
    group = value.groups[b"g1"] = Group(value.ids[5] if len(value) > 5 else 0, 6)
    alice, _ = group.consumer(b"alice", 1700000000123)
    group.consumer(b"bob", 1700000000456)
    for stream_id in list(value.ids)[:4]:
        group.pel[stream_id] = nack = Nack(None, 1700000000999, 3)
        group.assign(stream_id, nack, alice)
    group.pel[make_id(1, 1)] = Nack(None, 5, 1)  # pending, owner-less, entry long gone
    value.groups[b"empty"] = Group(value.last_id, -1)
    return value


def round_trip(value: Stream) -> Stream:
    decoded = rdb.decode(rdb.encode(value, LIMITS))
    assert isinstance(decoded, Stream)
    return decoded


STREAMS = {
    "one entry": build(1),
    "many nodes": build(450),
    "small nodes": build(60, node_entries=7),
    "byte-split nodes": build(200, node_bytes=300),
    "with groups": with_groups(build(30)),
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_streams_round_trip(name: str) -> None:
    value = STREAMS[name]
    assert state(round_trip(value)) == state(value)


def test_deletions_and_trims_round_trip() -> None:
    value = with_groups(build(300))
    for stream_id in list(value.ids)[::7]:
        value.delete(stream_id)
    value.delete(value.ids[-1])  # the last entry: last_id stays past the last entry
    value.trim(maxlen=250, minid=None, approx=False, limit=0)  # into a node
    value.trim(maxlen=120, minid=None, approx=True, limit=0)  # whole nodes
    decoded = round_trip(value)
    assert state(decoded) == state(value)
    assert decoded.max_deleted_id == value.max_deleted_id > 0


def test_empty_stream_with_a_group_round_trips() -> None:
    value = Stream()
    value.last_id = make_id(7, 3)
    value.entries_added = 4
    value.max_deleted_id = make_id(7, 3)
    value.groups[b"g"] = Group(make_id(7, 3), 4)
    decoded = round_trip(value)
    assert state(decoded) == state(value)
    assert not decoded.nodes


def test_redis_payload_decodes_and_encodes_back() -> None:
    decoded = rdb.decode(REDIS_PAYLOAD)
    assert isinstance(decoded, Stream)
    assert list(decoded.range(0, make_id(9, 0))) == [
        (make_id(5, 1), (b"a", b"1")),
        (make_id(5, 2), (b"a", b"hello", b"b", b"300")),
    ]
    assert decoded.groups[b"g"].last_id == 0
    assert decoded.groups[b"g"].entries_read == -1
    assert rdb.encode(decoded, LIMITS) == REDIS_PAYLOAD


def test_type_15_decodes_with_derived_counters() -> None:
    """6.x's STREAM_LISTPACKS: no first id, deleted id, entries added or entries-read."""
    value = build(10)
    body = rdb.encode(value, LIMITS)[:-10]
    counters = rdb.encode_length(10) + rdb_stream._encode_id(value.last_id)
    tail = counters + rdb_stream._encode_id(value.first_id) + rdb_stream._encode_id(0) + b"\x0a\x00"
    assert body.endswith(tail)
    legacy = bytes((rdb.TYPE_STREAM_LISTPACKS,)) + body[1 : -len(tail)]
    legacy += counters
    legacy += b"\x01" + rdb.encode_string(b"g") + rdb_stream._encode_id(value.last_id)  # group g at the end
    legacy += b"\x00\x00"  # no PEL, no consumers
    decoded = rdb.decode(with_footer(legacy))
    assert isinstance(decoded, Stream)
    assert list(decoded.range(0, value.last_id)) == list(value.range(0, value.last_id))
    assert decoded.entries_added == 10
    assert decoded.first_id == value.ids[0]
    assert decoded.max_deleted_id == 0
    assert decoded.groups[b"g"].entries_read == 10  # estimated, as Redis does


def _body(value: Stream) -> bytes:
    return rdb.encode(value, LIMITS)[:-10]


def _node(key: int, entries: list[tuple[int, list[bytes]]]) -> bytes:
    return rdb.encode_string(key.to_bytes(16, "big")) + rdb.encode_string(
        rdb_stream._node_listpack(entries[0][1][0::2], key, [(i, tuple(fields)) for i, fields in entries])
    )


def _stream_body(nodes: list[bytes], length: int, last: int, tail: bytes = b"\x00\x00\x00\x00\x00\x00\x00") -> bytes:
    """type 19: nodes, length, last id, then ``tail`` (first id, deleted id, added, groups)."""
    head = bytes((rdb.TYPE_STREAM_LISTPACKS_2,)) + rdb.encode_length(len(nodes)) + b"".join(nodes)
    return (
        head + rdb.encode_length(length) + rdb.encode_length(last >> 64) + rdb.encode_length(last & (2**64 - 1)) + tail
    )


E1, E2 = (make_id(1, 1), [b"a", b"1"]), (make_id(1, 2), [b"a", b"2"])
NO_META = b"\x00\x00\x00\x00\x00"  # first id, largest deleted id, entries added: all 0
GROUP_G = rdb.encode_string(b"g") + b"\x00\x00\x00"  # last id 0-0, entries read 0


def _bare_node(items: list[bytes]) -> bytes:
    return b"\x13\x01" + rdb.encode_string(bytes(16)) + rdb.encode_string(rdb.listpack(items))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_stream_body([_node(E1[0], [E1, E2])], 2, E2[0]), "a valid body (control)"),
        (_stream_body([_node(E1[0], [E2, E1])], 2, E2[0]), "entries out of order"),
        (_stream_body([_node(E1[0], [E1, E1])], 2, E1[0]), "a duplicate entry"),
        (_stream_body([_node(E2[0], [E1])], 1, E1[0]), "an entry before its node's key"),
        (_stream_body([_node(E2[0], [E2]), _node(E1[0], [E1])], 2, E2[0]), "nodes out of order"),
        (_stream_body([_node(E1[0], [E1, E2])], 3, E2[0]), "a length that is not the entries'"),
        (_stream_body([_node(E1[0], [E1, E2])], 2, E1[0]), "a last id before the last entry"),
        (_stream_body([], 0, 0, NO_META + b"\x02" + (GROUP_G + b"\x00\x00") * 2), "a duplicate group"),
        (
            _stream_body(
                [],
                0,
                0,
                NO_META + b"\x01" + GROUP_G + b"\x00\x01" + rdb.encode_string(b"c") + bytes(8) + b"\x01" + bytes(16),
            ),
            "a consumer's pending entry missing from the group's PEL",
        ),
        (_stream_body([], 0, 0, NO_META + b"\x81" + b"\xff" * 8), "a huge group count"),
        (b"\x13\x81" + b"\xff" * 8, "a huge node count"),
        (b"\x13\x01" + rdb.encode_string(b"short") + rdb.encode_string(b"x"), "a node key that is not an id"),
        (_bare_node([]), "an empty listpack"),
        (_bare_node([b"1", b"0", b"1", b"a", b"0"]), "a node missing its entry"),
        (_bare_node([b"1", b"0", b"1", b"a", b"0", b"2", b"0", b"1", b"v", b"9"]), "a bad lp-count"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_hostile_stream_bodies_are_bad_payloads(body: bytes, why: str) -> None:
    if why.endswith("(control)"):
        assert isinstance(rdb.decode(with_footer(body)), Stream)
        return
    with pytest.raises(rdb.BadPayload):
        rdb.decode(with_footer(body))


def test_every_truncation_is_refused() -> None:
    body = _body(with_groups(build(12)))
    for cut in range(len(body)):
        with pytest.raises(rdb.BadPayload):
            rdb.decode(with_footer(body[:cut]))


PAYLOADS = [rdb.encode(with_groups(build(12)), LIMITS), rdb.encode(build(3), LIMITS), REDIS_PAYLOAD]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PAYLOADS), st.data())
def test_bit_flips_with_a_valid_crc_never_crash(payload: bytes, data: st.DataObject) -> None:
    body = bytearray(payload[:-10])
    for bit in data.draw(st.lists(st.integers(0, len(body) * 8 - 1), min_size=1, max_size=4)):
        body[bit // 8] ^= 1 << (bit % 8)
    with contextlib.suppress(rdb.BadPayload):
        decoded = rdb.decode(with_footer(bytes(body)))
        assert isinstance(decoded, Stream)
        rdb.decode(rdb.encode(decoded, LIMITS))  # whatever it accepted is a stream it can write
