"""kvserver.rdb: DUMP payloads round-trip for every type and encoding, the older formats Redis
7.0 still loads decode, and hostile payloads (truncated, bit-flipped with a valid CRC, huge
declared lengths) are refused with BadPayload / BadFooter, never another exception."""

from __future__ import annotations

import contextlib
import math
import struct
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvserver import rdb
from kvserver.zset import ZSet

LIMITS = rdb.Limits()


def zset(pairs: dict[bytes, float]) -> ZSet:
    value = ZSet()
    for member, score in pairs.items():
        value.add(member, score)
    return value


def with_footer(body: bytes, version: int = rdb.RDB_VERSION) -> bytes:
    """A payload around a hand-built body: version and a correct CRC64."""
    body += version.to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


VALUES: list[object] = [
    b"hello",
    b"12345",
    b"-2147483648",
    b"4294967296",
    b"007",
    b"x" * 20000,
    b"",
    bytearray(b"raw bytes"),
    deque([b"a", b"1", b"-5000", b"70000", b"9999999999", b"x" * 70, b"y" * 5000]),
    deque(b"%d" % i for i in range(3000)),
    deque(b"v" * (i % 300 + 1) for i in range(500)),
    {b"1", b"2", b"-7"},
    {b"1", b"70000"},
    {b"1", b"%d" % 2**40},
    {b"a", b"b"},
    {b"%d" % i for i in range(600)},
    {b"f1": b"v1", b"f2": b"123", b"f3": b"x" * 64},
    {b"f%d" % i: b"v%d" % i for i in range(600)},
    {b"big": b"x" * 65},
    zset({b"a": 1, b"b": 2.5, b"c": -3, b"d": 1e20, b"e": math.inf, b"f": 2.0**62, b"g": -0.1}),
    zset({b"m%d" % i: i * 0.5 for i in range(200)}),
    zset({b"x" * 65: 1.0}),
]


def test_crc64_is_redis_jones_crc() -> None:
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # crc64.c's own test vector
    data = bytes(range(256)) * 40 + b"odd"  # the two-bytes-a-step path agrees with the byte loop
    assert rdb.crc64(data) == _bytewise(data)
    assert rdb.crc64(data[1000:], rdb.crc64(data[:1000])) == _bytewise(data)  # it chains


def _bytewise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_every_value_round_trips(value: object) -> None:
    decoded = rdb.decode(rdb.encode(value, LIMITS))
    if isinstance(value, bytearray):
        value = bytes(value)
    assert decoded == value
    assert type(decoded) is type(value)


def test_encodings_follow_the_limits() -> None:
    small = {b"f": b"v"}
    assert rdb.encode(small, LIMITS)[0] == rdb.TYPE_HASH_LISTPACK
    assert rdb.encode(small, rdb.Limits(hash_entries=0))[0] == rdb.TYPE_HASH
    assert rdb.encode({b"1"}, LIMITS)[0] == rdb.TYPE_SET_INTSET
    assert rdb.encode({b"1", b"2"}, rdb.Limits(set_intset_entries=1))[0] == rdb.TYPE_SET
    assert rdb.encode(zset({b"m": 1.0}), LIMITS)[0] == rdb.TYPE_ZSET_LISTPACK
    assert rdb.encode(zset({b"m": 1.0}), rdb.Limits(zset_value=0))[0] == rdb.TYPE_ZSET_2
    assert rdb.encode(deque([b"a"]), LIMITS)[0] == rdb.TYPE_LIST_QUICKLIST_2


def test_known_payloads_are_redis_bytes() -> None:
    """Payloads captured from Redis 7.0.15's DUMP (rdbcompression no)."""
    known: list[tuple[object, str]] = [
        (b"hello", "000568656c6c6f0a006372df766534200a"),
        (b"12345", "00c139300a009d94ea2793fc08b9"),
        ({b"1", b"2", b"3", b"-7"}, "0b100200000004000000f9ff0100020003000a003bfa4a3923b1fa84"),
        ({b"f": b"v"}, "100d0d0000000200816602817602ff0a0020f13d442354089d"),
        (zset({b"a": 1.0, b"b": 2.5}), "1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7"),
        (deque([b"a", b"1"]), "1201020c0c00000002008161020101ff0a0094962b23ac17aa85"),
    ]
    for value, payload in known:
        assert rdb.encode(value, LIMITS).hex() == payload
        assert rdb.decode(bytes.fromhex(payload)) == value


def test_quicklist_nodes_split_like_redis() -> None:
    """list-max-listpack-size -2: 8 kB nodes; a positive fill counts elements."""
    items = [b"v" * 100 for _ in range(200)]
    nodes = rdb._quicklist_nodes(items, -2)
    assert len(nodes) > 1
    assert all(len(node) <= 8192 for node in nodes)
    assert [len(rdb.listpack_entries(node)) for node in rdb._quicklist_nodes(items, 5)] == [5] * 40
    assert sum(len(rdb.listpack_entries(node)) for node in nodes) == 200


def test_listpack_integer_encodings() -> None:
    numbers = [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 40000, -8388608, 2**31 - 1, 2**40, -(2**63)]
    texts = [b"%d" % n for n in numbers] + [b"-0", b"01", b"+1", b" 1", b"x" * 63, b"x" * 64, b"y" * 4096]
    assert rdb.listpack_entries(rdb.listpack(texts)) == texts


def ziplist(entries: list[bytes]) -> bytes:
    """A ziplist of strings (as Redis < 7 wrote hashes, lists and sorted sets)."""
    body = b""
    previous = 0
    tail = 10
    for entry in entries:
        tail = 10 + len(body)
        prevlen = bytes((previous,)) if previous < 254 else b"\xfe" + previous.to_bytes(4, "little")
        header = bytes((len(entry),)) if len(entry) < 64 else bytes((0x40 | (len(entry) >> 8), len(entry) & 0xFF))
        node = prevlen + header + entry
        body += node
        previous = len(node)
    size = 11 + len(body)
    return size.to_bytes(4, "little") + tail.to_bytes(4, "little") + len(entries).to_bytes(2, "little") + body + b"\xff"


def test_older_formats_decode() -> None:
    string = rdb.encode_string
    # RDB 7-9 ziplist encodings and the v1 quicklist
    assert rdb.decode(with_footer(b"\x0d" + string(ziplist([b"f", b"v", b"g", b"w"])))) == {b"f": b"v", b"g": b"w"}
    assert rdb.decode(with_footer(b"\x0a" + string(ziplist([b"a", b"b"])))) == deque([b"a", b"b"])
    assert rdb.decode(with_footer(b"\x0e\x02" + string(ziplist([b"a"])) + string(ziplist([b"b" * 300])))) == deque(
        [b"a", b"b" * 300]
    )
    assert rdb.decode(with_footer(b"\x0c" + string(ziplist([b"m", b"1.5", b"n", b"2"])))) == zset(
        {b"m": 1.5, b"n": 2.0}
    )
    # the old linked list, plain set and hash, ZSET with string scores
    assert rdb.decode(with_footer(b"\x01\x02" + string(b"a") + string(b"7"))) == deque([b"a", b"7"])
    assert rdb.decode(with_footer(b"\x02\x02" + string(b"a") + string(b"b"))) == {b"a", b"b"}
    assert rdb.decode(with_footer(b"\x04\x01" + string(b"f") + string(b"v"))) == {b"f": b"v"}
    assert rdb.decode(with_footer(b"\x03\x02" + string(b"a") + b"\x031.5" + string(b"b") + b"\xfe")) == zset(
        {b"a": 1.5, b"b": math.inf}
    )
    # a zipmap (RDB < 4): zmlen, len key, len free value, end
    zipmap = b"\x01\x01f\x02\x01vv\x00\xff"
    assert rdb.decode(with_footer(b"\x09" + string(zipmap))) == {b"f": b"vv"}
    # a string of RDB 9 is read too (older versions are accepted)
    assert rdb.decode(with_footer(b"\x00" + string(b"old"), version=9)) == b"old"


def lzf_literal(data: bytes) -> bytes:
    out = b""
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32]
        out += bytes((len(chunk) - 1,)) + chunk
    return out


def test_lzf_strings_decode() -> None:
    # "abcabcabcabc...": 3 literal bytes, then a back reference of length 27 at offset 3
    compressed = b"\x02abc" + bytes((7 << 5, 27 - 2 - 7, 2))
    body = b"\x00\xc3" + rdb.encode_length(len(compressed)) + rdb.encode_length(30) + compressed
    assert rdb.decode(with_footer(body)) == b"abc" * 10
    literal = lzf_literal(b"0123456789" * 7)
    body = b"\x00\xc3" + rdb.encode_length(len(literal)) + rdb.encode_length(70) + literal
    assert rdb.decode(with_footer(body)) == b"0123456789" * 7


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\x00\x81" + (2**60).to_bytes(8, "big"), "a string claiming 2^60 bytes"),
        (b"\x01\x81" + (2**60).to_bytes(8, "big"), "a list claiming 2^60 elements"),
        (b"\x02\x00", "an empty set"),
        (b"\x02\x02\x01a\x01a", "a duplicate set member"),
        (b"\x04\x02\x01f\x01v\x01f\x01w", "a duplicate hash field"),
        (b"\x05\x01\x01m" + struct.pack("<d", math.nan), "a NaN score"),
        (b"\x00\xc3\x05\xbf\xff\xff\xff\x0f\x00abcd", "LZF claiming 4 GB from 5 bytes"),
        (b"\x00\xc3\x03\x0a\x20\x00\x00", "an LZF back reference before the start"),
        (b"\x0b" + rdb.encode_string(struct.pack("<II", 2, 2) + struct.pack("<hh", 5, 1)), "an unsorted intset"),
        (b"\x0b" + rdb.encode_string(struct.pack("<II", 3, 1) + b"\x00\x00\x00"), "an intset of width 3"),
        (b"\x10" + rdb.encode_string(b"\x07\x00\x00\x00\x00\x00\xff"), "an empty listpack"),
        (b"\x10" + rdb.encode_string(b"\x09\x00\x00\x00\x01\x00\x85\x01\xff"), "a listpack entry past its end"),
        (b"\x12\x01\x03" + rdb.encode_string(b"x"), "an unknown quicklist container"),
        (b"\x63", "an unknown RDB type"),
        (b"\x0f\x00", "a truncated stream"),
        (b"", "nothing at all"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_hostile_bodies_are_bad_payloads(body: bytes, why: str) -> None:
    with pytest.raises(rdb.BadPayload):
        rdb.decode(with_footer(body))


def test_footer_checks() -> None:
    payload = rdb.encode(b"v", LIMITS)
    with pytest.raises(rdb.BadFooter):
        rdb.decode(payload[:-1] + bytes((payload[-1] ^ 1,)))
    with pytest.raises(rdb.BadFooter):
        rdb.decode(b"short")
    with pytest.raises(rdb.BadFooter):
        rdb.decode(with_footer(b"\x00\x01v", version=11))


PAYLOADS = [rdb.encode(value, LIMITS) for value in VALUES if len(rdb.encode(value, LIMITS)) < 1000]


def _decodes_or_refuses(payload: bytes) -> None:
    with contextlib.suppress(rdb.BadPayload, rdb.BadFooter):
        rdb.decode(payload)


def test_every_truncation_is_refused() -> None:
    for payload in PAYLOADS:
        body = payload[:-10]
        for cut in range(len(body)):
            with pytest.raises(rdb.BadPayload):
                rdb.decode(with_footer(body[:cut]))


def test_truncated_big_values_are_refused() -> None:
    """Quicklists, ZSET_2, big sets and hashes: cuts spread over the body, and its last bytes."""
    for value in VALUES:
        body = rdb.encode(value, LIMITS)[:-10]
        if not 1000 <= len(body) <= 10000:
            continue
        for cut in [*range(0, len(body), 97), *range(len(body) - 40, len(body))]:
            with pytest.raises(rdb.BadPayload):
                rdb.decode(with_footer(body[:cut]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PAYLOADS), st.data())
def test_bit_flips_with_a_valid_crc_never_crash(payload: bytes, data: st.DataObject) -> None:
    body = bytearray(payload[:-10])
    flips = data.draw(st.lists(st.integers(0, len(body) * 8 - 1), min_size=1, max_size=4))
    for bit in flips:
        body[bit // 8] ^= 1 << (bit % 8)
    _decodes_or_refuses(with_footer(bytes(body)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bodies_never_crash(body: bytes) -> None:
    _decodes_or_refuses(with_footer(body))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(st.binary(max_size=80), min_size=1, max_size=50).map(deque),
        st.sets(st.binary(max_size=30), min_size=1, max_size=40),
        st.sets(st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n), min_size=1, max_size=40),
        st.dictionaries(st.binary(max_size=70), st.binary(max_size=70), min_size=1, max_size=40),
        st.dictionaries(
            st.binary(max_size=70),
            st.floats(allow_nan=False).map(lambda f: 0.0 if f == 0 else f),
            min_size=1,
            max_size=150,
        ).map(zset),
    )
)
def test_generated_values_round_trip(value: object) -> None:
    assert rdb.decode(rdb.encode(value, LIMITS)) == value
