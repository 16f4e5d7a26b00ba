"""The HyperLogLog representation (kvserver/hyperloglog.py) and its commands in process.

Expected bytes and opcodes here are what redis-server 7.0.15 produces for the same input
(the differential tests check the same against a live one)."""

from __future__ import annotations

import random

import pytest

from kvserver import hyperloglog as hll
from kvserver.protocol import OK
from tests.support import Harness, err


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_elements_hash_to_redis_registers() -> None:
    # PFDEBUG GETREG on redis-server after PFADD of each element alone
    assert hll.pattern(b"a") == (12711, 2)
    assert hll.pattern(b"") == (5938, 2)


def test_dense_registers_pack_and_unpack() -> None:
    rng = random.Random(1)
    regs = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
    packed = hll.pack(regs)
    assert len(packed) == hll.DENSE_BYTES
    assert hll.unpack(packed) == regs
    value = bytearray(hll.MAGIC + bytes(12)) + packed
    assert hll.registers(value) == regs
    assert hll.dense_set(value, 16383, 63) == (regs[16383] < 63)
    assert hll.registers(value)[16383] == 63
    assert hll.registers(value)[:16383] == regs[:16383]  # the neighbours are untouched


def test_register_wise_maximum() -> None:
    a = bytes([0, 5, 63, 7] * 4096)
    b = bytes([1, 5, 2, 60] * 4096)
    result = hll.maximum(int.from_bytes(a, "big"), int.from_bytes(b, "big")).to_bytes(hll.REGISTERS, "big")
    assert result == bytes([1, 5, 63, 60] * 4096)


def test_sparse_updates_split_and_merge_opcodes_as_redis() -> None:
    value = hll.new_hll()
    assert hll.decode(value) == b"Z:16384"
    assert hll.sparse_set(value, 100, 3, 3000) == 1
    assert hll.decode(value) == b"Z:100 v:3,1 Z:16283"
    assert hll.sparse_set(value, 101, 3, 3000) == 1  # merged with its left neighbour
    assert hll.decode(value) == b"Z:100 v:3,2 Z:16282"
    assert hll.sparse_set(value, 101, 2, 3000) == 0  # already higher
    assert hll.sparse_set(value, 0, 1, 3000) == 1
    assert hll.decode(value) == b"v:1,1 Z:99 v:3,2 Z:16282"  # a zero run over 64 is an XZERO
    assert hll.cached_count(value) is None  # an update marks the cached cardinality stale
    assert hll.sparse_set(value, 5, 33, 3000) == 1  # a value above 32: promoted to dense
    assert value[4] == hll.DENSE
    assert len(value) == hll.DENSE_SIZE
    assert hll.registers(value)[:6] == bytes([1, 0, 0, 0, 0, 33])


def test_sparse_promotes_at_the_size_limit() -> None:
    value = hll.new_hll()
    for index in range(0, 40, 2):
        hll.sparse_set(value, index, 1, 40)  # the limit counts the header too
    assert value[4] == hll.DENSE
    assert hll.registers(value)[:40] == bytes([1, 0] * 20)


def test_corrupt_sparse_values_are_detected() -> None:
    short = bytearray(hll.MAGIC + b"\x01" + bytes(11) + b"\x7f\xfe")  # 16383 registers
    with pytest.raises(hll.CorruptHLL):
        hll.count(short)
    with pytest.raises(hll.CorruptHLL):
        hll.registers(short)
    assert hll.sparse_set(short, 16383, 1, 3000) == -1
    past_the_end = bytearray(hll.new_hll() + b"\x80")
    with pytest.raises(hll.CorruptHLL):
        hll.registers(past_the_end)
    assert not hll.is_hll(b"HYLL\x00" + bytes(11))
    assert not hll.is_hll(b"HYLL\x02" + bytes(13))
    assert hll.is_hll(hll.new_hll())


def test_estimates() -> None:
    assert hll.count(hll.new_hll()) == 0
    value = hll.new_hll()
    for i in range(1000):
        hll.add(value, b"%d" % i, 3000)
    assert value[4] == hll.SPARSE
    sparse_estimate = hll.count(value)
    hll.to_dense(value)
    assert hll.count(value) == sparse_estimate
    assert abs(sparse_estimate - 1000) < 30


def test_pfadd_pfcount_log_and_cache(h: Harness) -> None:
    assert h("PFADD", "h", "a", "b", "c") == 1
    assert h("PFADD", "h", "a") == 0  # no change: not logged
    assert h("PFCOUNT", "h") == 3
    assert h("PFCOUNT", "h") == 3  # from the cache: not logged again
    value = h("GET", "h")
    assert isinstance(value, bytes)
    assert value[8:16] == (3).to_bytes(8, "little")
    assert h.records() == [[b"PFADD", b"h", b"a", b"b", b"c"], [b"PFCOUNT", b"h"]]
    replayed = Harness()
    for record in h.records():
        replayed(*record)
    assert replayed("GET", "h") == value


def test_errors(h: Harness) -> None:
    h("SET", "s", "not an hll")
    assert h("PFADD", "s", "x") == err("WRONGTYPE Key is not a valid HyperLogLog string value.")
    h("SET", "bad", b"HYLL\x01" + bytes(11) + b"\x7f\xfe")
    assert h("PFCOUNT", "bad") == 0  # the cached cardinality is valid: Redis answers it unchecked
    h("SET", "bad", b"HYLL\x01" + bytes(10) + b"\x80\x7f\xfe")
    assert h("PFCOUNT", "bad") == err("INVALIDOBJ Corrupted HLL object detected")
    assert h("PFMERGE", "d", "bad") == err("INVALIDOBJ Corrupted HLL object detected")
    h("RPUSH", "l", "x")
    assert h("PFCOUNT", "l") == err("WRONGTYPE Operation against a key holding the wrong kind of value")


@pytest.mark.slow
def test_pfselftest(h: Harness) -> None:
    assert h("PFSELFTEST") == OK


def test_batched_hashes_match_one_by_one() -> None:
    rng = random.Random(7)
    for n in (8, 9, 100, 3000):
        elements = [rng.randbytes(rng.choice([0, 1, 7, 8, 9, 17, 18, 19, 64])) for _ in range(n)]
        assert hll.patterns(elements) == [hll.pattern(element) for element in elements]
    same_length = [b"%09d" % rng.randrange(10**9) for _ in range(500)]
    assert hll.patterns(same_length) == [hll.pattern(element) for element in same_length]


def _one_by_one(value: bytearray, pairs: list[tuple[int, int]], max_bytes: int) -> tuple[int, int]:
    """The byte-wise hllSparseSet / hllDenseSet of each update in turn (as ``add`` does)."""
    updated = 0
    for j, (index, count) in enumerate(pairs):
        result = (
            hll.dense_set(value, index, count)
            if value[4] == hll.DENSE
            else hll.sparse_set(value, index, count, max_bytes)
        )
        if result < 0:
            return updated, j
        updated += result
    return updated, -1


def test_batched_sparse_updates_make_the_bytes_of_one_by_one() -> None:
    # updates crowded into a few windows of registers, so runs of adjacent non-zero registers
    # form, split and merge (the order of the updates matters there), up to the promotion
    rng = random.Random(3)
    for trial in range(150):
        max_bytes = rng.choice([0, 30, 60, 300, 1000, 3000, 100_000])
        windows = [(rng.randrange(16384), rng.choice([3, 8, 70, 2000])) for _ in range(3)] + [(0, 4), (16380, 4)]
        value = hll.new_hll()
        for _ in range(3):
            pairs = []
            for _ in range(rng.choice([5, 30, 300])):
                first, width = rng.choice(windows)
                count = rng.choice([1, 1, 2, 2, 3, 5, 32]) if rng.random() < 0.995 else 33
                pairs.append((min(first + rng.randrange(width), 16383), count))
            expected = bytearray(value)
            want = _one_by_one(expected, pairs, max_bytes)
            got = hll.raise_registers(value, pairs, max_bytes)
            assert (got[0] > 0, got[1]) == (want[0] > 0, want[1])
            assert value[4:5] + value[16:] == expected[4:5] + expected[16:], f"trial {trial}"


def test_batched_updates_keep_the_order_of_the_updates() -> None:
    # six registers of the same value: ascending updates make v:3,4 v:3,2, descending v:3,2 v:3,4
    up = hll.new_hll()
    hll.raise_registers(up, [(i, 3) for i in range(100, 106)], 3000)
    assert hll.decode(up) == b"Z:100 v:3,4 v:3,2 Z:16278"
    down = hll.new_hll()
    hll.raise_registers(down, [(i, 3) for i in range(105, 99, -1)], 3000)
    assert hll.decode(down) == b"Z:100 v:3,2 v:3,4 Z:16278"


def test_batched_updates_of_irregular_values_as_one_by_one() -> None:
    # values Redis's own updates never make (split zero runs, a small XZERO, mergeable VALs):
    # updated opcode by opcode as hllSparseSet does
    header = hll.MAGIC + b"\x01" + bytes(11)
    for opcodes in (b"\x09" + b"\x7f\xf5", b"\x40\x09" + b"\x7f\xf5", b"\x80\x80" + b"\x7f\xfd", b"\x7f\xff\x00"):
        value = bytearray(header + opcodes)
        expected = bytearray(value)
        pairs = [(1, 2), (0, 1), (12, 4), (11, 4), (2, 1), (16383, 1)]
        assert hll.raise_registers(value, pairs, 3000) == _one_by_one(expected, pairs, 3000)
        assert value == expected


def test_pfadd_of_many_elements_promotes_at_the_same_element(h: Harness) -> None:
    h("CONFIG", "SET", "hll-sparse-max-bytes", "200")
    elements = [b"%d" % i for i in range(300)]
    expected = hll.new_hll()
    for element in elements:
        hll.add(expected, element, 200)
    assert expected[4] == hll.DENSE
    assert h("PFADD", "h", *elements) == 1
    value = h("GET", "h")
    assert isinstance(value, bytes)
    assert value[16:] == expected[16:]


def test_many_updates_of_a_dense_value_as_one_by_one() -> None:
    rng = random.Random(5)
    value = bytearray(hll.MAGIC + b"\x00" + bytes(11)) + hll.pack(
        bytes(rng.randrange(20) for _ in range(hll.REGISTERS))
    )
    pairs = [(rng.randrange(hll.REGISTERS), rng.randrange(1, 52)) for _ in range(3000)]
    expected = bytearray(value)
    assert hll.raise_registers(value, pairs, 3000) == _one_by_one(expected, pairs, 3000)
    assert value == expected
