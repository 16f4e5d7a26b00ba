"""HyperLogLog in Redis 7.0.15's exact string representation (sans-IO: bytes in, bytes out).

A HyperLogLog is a plain string: a 16-byte header (``HYLL``, the encoding byte, 3 unused bytes,
the cached cardinality as 8 little-endian bytes whose top bit marks it stale) and 16384 6-bit
registers, either dense (12288 bytes, register i at bit 6*i, least significant bit first) or
sparse (run-length opcodes ZERO ``00xxxxxx``, XZERO ``01xxxxxx yyyyyyyy``, VAL ``1vvvvvxx``).
Every function here makes the bytes Redis's hyperloglog.c makes for the same operations (the
sparse updates split and merge opcodes as hllSparseSet does, the promotion to dense happens at
the same point), so GET returns the same value on both servers and each can read the other's.

Elements are hashed with MurmurHash64A (seed 0xadc83b19); the estimator is 7.0's (Ertl's
"new" one, with hllSigma and hllTau), in IEEE doubles like Redis's, so counts agree exactly.

Speed: PFADD of many elements hashes them together (each step of MurmurHash64A one big-integer
operation over all the elements of one length) and updates a sparse value as registers plus the
opcodes of its runs of adjacent non-zero registers (``_Runs``), byte-identical to hllSparseSet's
one update after the other, promoting at the same element. A dense update edits one or two
bytes of the bytearray in place; reading all registers
(PFCOUNT, PFMERGE) splits and recombines byte strings with ``bytes.translate`` and big-integer
operations (no Python loop over the 16384 registers); the element-wise maximum of two register
arrays is a SIMD-within-a-register expression on two big integers.
"""

from __future__ import annotations

import math
import re
import struct
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from operator import itemgetter
from typing import Final

HEADER: Final = 16
REGISTERS: Final = 16384
DENSE_BYTES: Final = REGISTERS * 6 // 8
DENSE_SIZE: Final = HEADER + DENSE_BYTES
DENSE: Final = 0
SPARSE: Final = 1
MAGIC: Final = b"HYLL"
STALE: Final = 0x80  # in byte 15, the top byte of the cached cardinality
_Q: Final = 50  # bits of the hash that count the run of zeros (64 - 14)
_MASK64: Final = (1 << 64) - 1
_M: Final = 0xC6A4A7935BD1E995
_SEED: Final = 0xADC83B19
_ALPHA_INF: Final = 0.721347520444481703680
_VAL_MAX: Final = 32  # the largest value a sparse VAL opcode holds
_VAL_RUN: Final = 4
_ZERO_RUN: Final = 64
_CORRUPT: Final = -1
_PROMOTE: Final = 2
_FEW: Final = 4  # elements a PFADD adds to a sparse value in place, without decoding it


class CorruptHLL(Exception):
    """The value has a valid header but its sparse registers don't add up to 16384."""


# --- hashing ------------------------------------------------------------------------------------


_BLOCKS: dict[int, Callable[[bytes], tuple[int, ...]]] = {}


def murmur64a(data: bytes) -> int:
    """MurmurHash64A as Redis computes it (endian-neutral), with Redis's HyperLogLog seed."""
    length = len(data)
    m = _M
    mask = _MASK64
    h = (_SEED ^ (length * m)) & mask
    blocks = length >> 3
    if blocks:
        unpack = _BLOCKS.get(blocks)
        if unpack is None:
            unpack = _BLOCKS[blocks] = struct.Struct(f"<{blocks}Q").unpack_from
        for k in unpack(data):
            k = (k * m) & mask
            k = ((k ^ ((k >> 47) & mask)) * m) & mask
            h = ((h ^ k) * m) & mask
    if length & 7:
        h = ((h ^ int.from_bytes(data[blocks * 8 :], "little")) * m) & mask
    h = ((h ^ (h >> 47)) * m) & mask
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """hllPatLen: the register an element hashes to, and the length of its run "00..1" (1..51)."""
    h = murmur64a(element)
    rest = (h >> 14) | (1 << _Q)
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


_LANE: Final = 16  # bytes per hash in the batch's big integers: 8 of value, 8 of headroom
_BATCH: Final = 8  # fewer elements of one length than this are hashed one by one
_PLUS_ONE: Final = bytes((b + 1) & 0xFF for b in range(256))


def _patterns_of_length(elements: Sequence[bytes], length: int) -> tuple[Sequence[int], bytes]:
    """The registers and runs (``pattern``) of elements that all have ``length`` bytes, hashed all
    at once: hash i is lane i (bits 128*i up) of big integers, so each step of MurmurHash64A is
    one big-integer operation for the whole batch. A lane's 64 bits of headroom take the product
    of two 64-bit numbers without a carry into the next lane; masking after each product and
    each right shift (which brings the next lane's low bits into the headroom) keeps the lanes
    apart."""
    n = len(elements)
    m = _M
    ones = int.from_bytes((b"\x01" + bytes(_LANE - 1)) * n, "little")
    mask = ones * _MASK64
    h = ((_SEED ^ (length * m)) & _MASK64) * ones
    joined = b"".join(elements)
    lanes = bytearray(_LANE * n)
    blocks = length >> 3
    for block in range(blocks):
        for j in range(8):
            lanes[j::_LANE] = joined[block * 8 + j :: length]
        k = (int.from_bytes(lanes, "little") * m) & mask
        k = ((k ^ ((k >> 47) & mask)) * m) & mask
        h = ((h ^ k) * m) & mask
    if length & 7:
        lanes = bytearray(_LANE * n)
        for j in range(length & 7):
            lanes[j::_LANE] = joined[blocks * 8 + j :: length]
        h = ((h ^ int.from_bytes(lanes, "little")) * m) & mask
    h = ((h ^ ((h >> 47) & mask)) * m) & mask
    h ^= (h >> 47) & mask
    # the register: the low 14 bits, the first byte and 6 bits of the second of each lane
    hashes = h.to_bytes(_LANE * n, "little")
    low14 = bytearray(2 * n)
    low14[0::2] = hashes[0::_LANE]
    low14[1::2] = hashes[1::_LANE].translate(_LOW6)
    indices = struct.unpack(f"<{n}H", low14)
    # the run "00..1": one more than the trailing zeros of the other 50 bits (and hllPatLen's
    # guard bit), the bits set in (x & -x) - 1 counted lane by lane (the SWAR popcount)
    rest = ((h >> 14) & mask) | ones << _Q
    v = (rest & (((ones << 64) - rest) & mask)) - ones
    v -= (v >> 1) & ones * 0x5555555555555555
    v = (v & ones * 0x3333333333333333) + ((v >> 2) & ones * 0x3333333333333333)
    v = ((v + (v >> 4)) & ones * 0x0F0F0F0F0F0F0F0F) * 0x0101010101010101  # the sum in byte 7
    runs = v.to_bytes(_LANE * n, "little")[7::_LANE].translate(_PLUS_ONE)
    return indices, runs


def patterns(elements: list[bytes]) -> list[tuple[int, int]]:
    """``pattern`` of each element, in order. The elements are hashed together by length (put
    in order of length, hashed, put back: ``itemgetter`` and ``sorted``, no Python loop)."""
    n = len(elements)
    if n < _BATCH:
        return [pattern(element) for element in elements]
    lengths = list(map(len, elements))
    shortest, longest = min(lengths), max(lengths)
    if shortest == longest:
        return list(zip(*_patterns_of_length(elements, shortest), strict=True))
    order = sorted(range(n), key=lengths.__getitem__)
    ordered: tuple[bytes, ...] = itemgetter(*order)(elements)
    ordered_lengths: tuple[int, ...] = itemgetter(*order)(lengths)
    pairs: list[tuple[int, int]] = []
    start = 0
    while start < n:
        length = ordered_lengths[start]
        end = bisect_right(ordered_lengths, length, start)
        if end - start >= _BATCH:
            pairs += zip(*_patterns_of_length(ordered[start:end], length), strict=True)
        else:
            pairs += map(pattern, ordered[start:end])
        start = end
    back: list[tuple[int, int]] = list(itemgetter(*sorted(range(n), key=order.__getitem__))(pairs))
    return back


# --- validation and creation --------------------------------------------------------------------


def is_hll(value: bytes | bytearray) -> bool:
    """isHLLObjectOrReply's checks: the magic, a known encoding, a dense value's exact size."""
    if len(value) < HEADER or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] == SPARSE or len(value) == DENSE_SIZE


def new_hll() -> bytearray:
    """createHLLObject: sparse, one XZERO opcode for all the registers, cardinality 0 (valid)."""
    return bytearray(MAGIC + b"\x01" + bytes(11) + b"\x7f\xff")


def cached_count(value: bytes | bytearray) -> int | None:
    """The cached cardinality, or None if it is stale."""
    if value[15] & STALE:
        return None
    return int.from_bytes(value[8:16], "little")


def store_count(value: bytearray, count: int) -> None:
    value[8:16] = count.to_bytes(8, "little")


def invalidate(value: bytearray) -> None:
    value[15] |= STALE


# --- dense registers ----------------------------------------------------------------------------

_LOW6: Final = bytes(b & 63 for b in range(256))
_HIGH2: Final = bytes(b >> 6 for b in range(256))
_HIGH4: Final = bytes(b >> 4 for b in range(256))
_HIGH6: Final = bytes(b >> 2 for b in range(256))
_LOW4_UP2: Final = bytes((b & 15) << 2 for b in range(256))
_LOW2_UP4: Final = bytes((b & 3) << 4 for b in range(256))
_LOW2_UP6: Final = bytes(((b & 3) << 6) for b in range(256))
_SHR2: Final = bytes((b & 63) >> 2 for b in range(256))
_LOW4_UP4: Final = bytes(((b & 15) << 4) for b in range(256))
_SHR4: Final = bytes((b & 63) >> 4 for b in range(256))
_UP2: Final = bytes(((b & 63) << 2) & 0xFF for b in range(256))


def _or(a: bytes, b: bytes) -> bytes:
    """Byte-wise OR of two equal-length byte strings (as two big integers)."""
    return (int.from_bytes(a, "big") | int.from_bytes(b, "big")).to_bytes(len(a), "big")


def unpack(dense: bytes | bytearray | memoryview) -> bytes:
    """The 12288 bytes of dense registers as 16384 bytes, one register each."""
    data = bytes(dense)
    b0, b1, b2 = data[0::3], data[1::3], data[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_LOW6)
    out[1::4] = _or(b0.translate(_HIGH2), b1.translate(_LOW4_UP2))
    out[2::4] = _or(b1.translate(_HIGH4), b2.translate(_LOW2_UP4))
    out[3::4] = b2.translate(_HIGH6)
    return bytes(out)


def pack(registers: bytes) -> bytes:
    """The inverse of ``unpack``: 16384 register values (0..63) as 12288 dense bytes."""
    r0, r1, r2, r3 = registers[0::4], registers[1::4], registers[2::4], registers[3::4]
    out = bytearray(DENSE_BYTES)
    out[0::3] = _or(r0.translate(_LOW6), r1.translate(_LOW2_UP6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_LOW4_UP4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_UP2))
    return bytes(out)


def dense_set(value: bytearray, index: int, count: int) -> bool:
    """hllDenseSet: raise register ``index`` to ``count``; True if it changed."""
    position = HEADER + (index * 6 >> 3)
    shift = index * 6 & 7
    low = value[position]
    high = value[position + 1] if position + 1 < len(value) else 0
    if count <= ((low >> shift) | (high << (8 - shift))) & 63:
        return False
    value[position] = (low & ~(63 << shift) & 0xFF) | ((count << shift) & 0xFF)
    if shift > 2:
        value[position + 1] = (high & ~(63 >> (8 - shift))) | (count >> (8 - shift))
    return True


# --- sparse registers ---------------------------------------------------------------------------


def _opcode(value: bytes | bytearray, p: int, end: int) -> tuple[int, int, int]:
    """(kind 0 ZERO / 1 XZERO / 2 VAL, run length, opcode length) of the opcode at ``p``."""
    b = value[p]
    if b & 0x80:
        return 2, (b & 3) + 1, 1
    if b & 0x40:
        return 1, (((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1, 2
    return 0, (b & 0x3F) + 1, 1


def _val(count: int, run: int) -> int:
    return 0x80 | (count - 1) << 2 | (run - 1)


def _zeros(run: int) -> bytes:
    if run > _ZERO_RUN:
        return bytes((0x40 | (run - 1) >> 8, (run - 1) & 0xFF))
    return bytes((run - 1,))


def sparse_registers(value: bytes | bytearray) -> bytes:
    """The registers of a sparse value, one byte each (the walk of hllSparseToDense and hllMerge).
    CorruptHLL unless the runs add up to exactly 16384: as in redis-server 7.0.15 with the fix of
    CVE-2025-32023 (Debian's 7.0.15-1~deb12u10), where any run past the last register is an error
    (7.0.15's own source ignored a VAL past it)."""
    regs = bytearray(REGISTERS)
    index = 0
    p = HEADER
    end = len(value)
    while p < end:
        kind, run, size = _opcode(value, p, end)
        if index + run > REGISTERS:
            raise CorruptHLL
        if kind == 2:
            regs[index : index + run] = bytes((((value[p] >> 2) & 0x1F) + 1,)) * run
        index += run
        p += size
    if index != REGISTERS:
        raise CorruptHLL
    return bytes(regs)


def to_dense(value: bytearray) -> None:
    """hllSparseToDense, in place (the header is kept, the encoding byte becomes dense)."""
    if value[4] == DENSE:
        return
    dense = pack(sparse_registers(value))
    value[4] = DENSE
    value[HEADER:] = dense


_SPANS: Final = bytes((b & 3) + 1 if b & 0x80 else (b & 0x3F) + 1 if b < 0x40 else 0 for b in range(256))
_BLOCK: Final = 64
_XZERO_MARKS: Final = bytes(1 if 0x40 <= b < 0x80 else 0 for b in range(256))


def _locate(value: bytes | bytearray, index: int, start: int, first: int) -> tuple[int, int, int, int, int] | None:
    """The scan of hllSparseSet's step 1, from the opcode at ``start`` (whose first register is
    ``first``): (position of the opcode covering ``index``, its first register, position of
    the opcode before it, of the one before that, and that one's first register), -1 for
    none; None if no opcode covers ``index`` (a corrupt value).

    Done without a Python loop over the opcodes: ``translate`` gives every single-byte opcode's
    run, the two-byte XZERO opcodes are found with ``find`` (from an opcode boundary, the
    first byte 01xxxxxx met always starts one), sums over blocks of 64
    bytes find the block, and a running sum with a bisection the opcode in it."""
    opcodes = value[start:]
    spans = bytearray(opcodes.translate(_SPANS))
    size = len(spans)
    marks = opcodes.translate(_XZERO_MARKS)
    wide: dict[int, int] = {}  # the runs of the XZERO opcodes, by position
    at = marks.find(1)
    while at >= 0:
        if at + 1 == size:  # a truncated XZERO: Redis reads the 0 that ends its string
            wide[at] = ((opcodes[at] & 0x3F) << 8) + 1
            break
        wide[at] = (((opcodes[at] & 0x3F) << 8) | opcodes[at + 1]) + 1
        spans[at + 1] = 0  # the second byte of an XZERO is no opcode
        at = marks.find(1, at + 2)
    seconds = {at + 1 for at in wide}
    wide_by_block: dict[int, int] = {}
    for at, run in wide.items():
        wide_by_block[at // _BLOCK] = wide_by_block.get(at // _BLOCK, 0) + run
    base = 0
    while base < size:
        total = sum(spans[base : base + _BLOCK]) + wide_by_block.get(base // _BLOCK, 0)
        if first + total > index:
            break
        first += total
        base += _BLOCK
    else:
        return None
    low = max(base - 8, 0)  # 8 bytes back: the two opcodes before the one found are in the window
    runs = [wide.get(j, spans[j]) for j in range(low, min(base + _BLOCK, size))]
    firsts = list(accumulate(runs, initial=first - sum(runs[: base - low])))
    k = bisect_right(firsts, index) - 1
    if k < 0 or k >= len(runs) or index >= firsts[k + 1]:
        return None
    before = [j for j in range(k - 1, max(k - 5, -1), -1) if j + low not in seconds][:2]
    prev = before[0] + low + start if before else -1
    if len(before) > 1:
        return k + low + start, firsts[k], prev, before[1] + low + start, firsts[before[1]]
    return k + low + start, firsts[k], prev, -1, 0


def sparse_set(value: bytearray, index: int, count: int, max_bytes: int, resume: list[int] | None = None) -> int:
    """hllSparseSet: raise register ``index`` to ``count`` in a sparse value, in place.

    1 if the register changed (the value may have been promoted to dense: a count above 32, or
    a value that would grow past ``max_bytes``), 0 if not, -1 if the value is corrupt.
    ``resume`` (PFMERGE's ascending updates) is [position, first register] of an opcode
    boundary the scan may start from; it is advanced to one before the update's opcode.
    """
    if count > _VAL_MAX:
        return _promote(value, index, count)
    end = len(value)
    found = _locate(value, index, *(resume or (HEADER, 0)))
    if found is None:
        return -1
    p, first, prev, before_prev, before_prev_first = found
    kind, span, size = _opcode(value, p, end)
    if resume is not None and before_prev >= 0:
        # the opcodes before ``prev`` stay as they are: a later, higher register starts there
        resume[0], resume[1] = before_prev, before_prev_first
    if kind == 2:
        current = ((value[p] >> 2) & 0x1F) + 1
        if current >= count:
            return 0
    if span == 1 and kind != 1:  # a VAL or ZERO of one register becomes a VAL in place
        value[p] = _val(count, 1)
    else:
        last = first + span - 1
        if kind == 2:
            seq = bytearray()
            if index != first:
                seq.append(_val(current, index - first))
            seq.append(_val(count, 1))
            if index != last:
                seq.append(_val(current, last - index))
        else:
            seq = bytearray(_zeros(index - first) if index != first else b"")
            seq.append(_val(count, 1))
            if index != last:
                seq += _zeros(last - index)
        delta = len(seq) - size
        if delta > 0 and end + delta > max_bytes:
            return _promote(value, index, count)
        if p + size > end:  # a truncated XZERO at the very end: Redis copies over the end
            value[p:] = seq[: len(seq) - (p + size - end)]
        else:
            value[p : p + size] = seq
        end += delta
    # merge adjacent VALs of the same value, up to 5 opcodes from the previous one
    p = prev if prev >= 0 else HEADER
    scan = 5
    while p < end and scan > 0:
        scan -= 1
        b = value[p]
        if not b & 0x80:
            p += 2 if b & 0x40 else 1
            continue
        if p + 1 < end and value[p + 1] & 0x80:
            following = value[p + 1]
            if (b >> 2) & 0x1F == (following >> 2) & 0x1F:
                run = (b & 3) + (following & 3) + 2
                if run <= _VAL_RUN:
                    value[p + 1] = _val(((b >> 2) & 0x1F) + 1, run)
                    del value[p]
                    end -= 1
                    continue
        p += 1
    invalidate(value)
    return 1


def _promote(value: bytearray, index: int, count: int) -> int:
    try:
        to_dense(value)
    except CorruptHLL:
        return -1
    dense_set(value, index, count)
    return 1


def add(value: bytearray, element: bytes, max_bytes: int) -> int:
    """hllAdd: 1 if a register changed, 0 if not, -1 if the value is corrupt."""
    index, count = pattern(element)
    if value[4] == DENSE:
        return 1 if dense_set(value, index, count) else 0
    return sparse_set(value, index, count, max_bytes)


def add_many(value: bytearray, elements: list[bytes], max_bytes: int) -> tuple[int, int]:
    """hllAdd for each element in turn: (how many changed a register, how many were added
    before a corrupt value stopped it, or -1 if none did).

    More than a few elements are hashed together first (``patterns``). A sparse value Redis
    made is then updated as ``_Runs`` (its registers, and the opcodes of its runs of adjacent
    non-zero registers), written back once; any other sparse value as ``_SparseEditor`` (its
    opcodes as lists). Both make the bytes one hllSparseSet after the other makes, and promote
    the value to dense at the same element."""
    if len(elements) <= _FEW:
        return _add_each(value, elements, max_bytes)
    return raise_registers(value, patterns(elements), max_bytes)


def raise_registers(value: bytearray, pairs: list[tuple[int, int]], max_bytes: int) -> tuple[int, int]:
    """``add_many`` of the elements whose patterns are ``pairs`` (register, count)."""
    total = len(pairs)
    updated = 0
    j = 0
    if value[4] == SPARSE:
        runs = _Runs.decode(value)
        if runs is not None:
            j, updated, status = runs.apply(pairs, max_bytes)
            if status == _PROMOTE:  # Redis converts, then raises the register in the dense value
                regs = runs.regs
                updated += _raise_all(regs, pairs, j)
                value[4] = DENSE
                value[HEADER:] = pack(bytes(regs))
                invalidate(value)
                return updated, -1
            runs.encode(value)
            if updated:
                invalidate(value)
    while j < total and value[4] == SPARSE:
        editor = _SparseEditor.decode(value)
        if editor is None:  # a truncated last opcode: the byte-wise path, one element at a time
            index, count = pairs[j]
            result = sparse_set(value, index, count, max_bytes)
            if result < 0:
                return updated, j
            updated += result
            j += 1
            continue
        j, changed, failed = editor.apply(pairs, j, max_bytes)
        updated += changed
        editor.encode(value)
        if changed:
            invalidate(value)
        if failed:
            return updated, j
        if editor.promote is not None:
            index, count = editor.promote
            if not _promote(value, index, count) > 0:
                return updated, j
            updated += 1
            j += 1
    if total - j > _DENSE_BULK:  # unpacked, raised in a plain bytearray, packed again
        regs = bytearray(unpack(memoryview(value)[HEADER:]))
        updated += _raise_all(regs, pairs, j)
        value[HEADER:] = pack(bytes(regs))
        return updated, -1
    for index, count in pairs[j:]:
        updated += dense_set(value, index, count)
    return updated, -1


_DENSE_BULK: Final = 1000  # updates past which unpacking the dense registers is cheaper


def _raise_all(regs: bytearray, pairs: list[tuple[int, int]], j: int) -> int:
    """Raise ``regs`` (one byte each) to the updates of ``pairs`` from ``j`` on: how many changed."""
    updated = 0
    for index, count in pairs[j:]:
        if count > regs[index]:
            regs[index] = count
            updated += 1
    return updated


def _add_each(value: bytearray, elements: list[bytes], max_bytes: int) -> tuple[int, int]:
    """``add_many`` for a few elements: ``add`` of each, in place."""
    updated = 0
    for j, element in enumerate(elements):
        result = add(value, element, max_bytes)
        if result < 0:
            return updated, j
        updated += result
    return updated, -1


_IRREGULAR: Final = 3
_NONZERO: Final = re.compile(rb"[^\x00]+")


_WINDOW: Final = _ZERO_RUN + 1  # zeros counted on either side of an update, at most


def _zero_bytes(run: int) -> int:
    """The length of the opcode of ``run`` zero registers (none, a ZERO, an XZERO)."""
    return 0 if not run else 1 if run <= _ZERO_RUN else 2


# how many bytes longer the split of a zero run makes the value, by the zeros before and after
# the register set (each up to _WINDOW, standing for _WINDOW or more): a lone zero becomes a VAL
_SPLIT_DELTA: Final = bytes(
    _zero_bytes(before) + 1 + _zero_bytes(after) - _zero_bytes(before + after + 1) if before or after else 0
    for before in range(_WINDOW + 1)
    for after in range(_WINDOW + 1)
)
_NONZERO_MARKS: Final = bytes([0] + [1] * 255)


def _mergeable(a: int, b: int) -> bool:
    """Two adjacent VAL opcodes hllSparseSet would merge: the same value, four registers at most."""
    return not (a ^ b) & 0x7C and (a & 3) + (b & 3) + 2 <= _VAL_RUN


def _merge_scan(ops: list[int], p: int, scan: int) -> int:
    """hllSparseSet's step 4 on the VAL opcodes of one run of non-zero registers, from ``p`` with
    ``scan`` opcodes left to look at (Redis looks at 5 from the one before the update, zero
    opcodes included: a zero opcode ends the run, and past it no two VALs are mergeable).
    Returns the number of merges (each one byte less)."""
    merges = 0
    while p < len(ops) and scan > 0:
        scan -= 1
        if p + 1 < len(ops):
            a, b = ops[p], ops[p + 1]
            if not (a ^ b) & 0x7C and (a & 3) + (b & 3) + 2 <= _VAL_RUN:
                ops[p + 1] = (b & ~3) | ((a & 3) + (b & 3) + 1)
                del ops[p]
                merges += 1
                continue
        p += 1
    return merges


class _Runs:
    """A sparse value in the form Redis's updates keep it in, and hllSparseSet's rules on it.

    From a new value on, Redis's updates keep a sparse value *regular*: each run of zero
    registers is one opcode (ZERO up to 64 registers, XZERO above), and no two adjacent VALs are
    mergeable (an update's merge scan reaches every pair it made so). Its bytes are then the
    zero runs, which the registers alone give, and the VAL opcodes of each run of adjacent
    non-zero registers, which depend on the order of the updates. So this holds the registers
    (one byte each) and, for each run of two or more non-zero registers, its VAL opcodes
    (keyed by its first register; a lone register is one VAL). An update of a lone register
    (the common case) is then a few byte operations: the zero runs on either side of it are
    measured with ``rstrip`` and ``lstrip`` of 65-byte windows (the opcode's length only
    depends on whether a run is empty, up to 64, or longer); an update next to a run, or in
    one, splits and merges that run's opcodes as hllSparseSet does. The value's size is kept
    as hllSparseSet computes it, for the promotion to dense at the same element."""

    __slots__ = ("groups", "marks", "regs", "size")

    def __init__(self, regs: bytearray, groups: dict[int, list[int]], size: int) -> None:
        self.regs = regs
        self.marks = regs.translate(_NONZERO_MARKS)  # 1 for a non-zero register: found by find
        self.groups = groups
        self.size = size  # the value's length in bytes, as Redis checks it against max_bytes

    @classmethod
    def decode(cls, value: bytearray) -> _Runs | None:
        """None unless the value is regular and its runs cover exactly the 16384 registers."""
        regs = bytearray(REGISTERS)
        groups: dict[int, list[int]] = {}
        ops: list[int] = []  # the VALs of the run of non-zero registers being read
        first = 0  # its first register
        previous_zero = False
        index = 0
        p = HEADER
        end = len(value)
        while p < end:
            b = value[p]
            if b & 0x80:
                run = (b & 3) + 1
                if index + run > REGISTERS or (ops and _mergeable(ops[-1], b)):
                    return None
                if not ops:
                    first = index
                ops.append(b)
                regs[index : index + run] = bytes((((b >> 2) & 0x1F) + 1,)) * run
                previous_zero = False
                p += 1
            else:
                if previous_zero:
                    return None
                if b & 0x40:
                    if p + 1 == end:
                        return None
                    run = (((b & 0x3F) << 8) | value[p + 1]) + 1
                    if run <= _ZERO_RUN:
                        return None
                    p += 2
                else:
                    run = b + 1
                    p += 1
                if index + run > REGISTERS:
                    return None
                if ops:
                    if index - first > 1:
                        groups[first] = ops
                    ops = []
                previous_zero = True
            index += run
        if index != REGISTERS:
            return None
        if ops and index - first > 1:
            groups[first] = ops
        return cls(regs, groups, end)

    def encode(self, value: bytearray) -> None:
        regs = self.regs
        groups = self.groups
        out = bytearray()
        end = 0
        for run in _NONZERO.finditer(regs):
            first, last = run.span()
            if first > end:
                out += _zeros(first - end)
            if last - first == 1:
                out.append(_val(regs[first], 1))
            else:
                out += bytes(groups[first])
            end = last
        if end < REGISTERS:
            out += _zeros(REGISTERS - end)
        value[HEADER:] = out

    def apply(self, pairs: list[tuple[int, int]], max_bytes: int) -> tuple[int, int, int]:
        """Raise the registers in turn: (where it stopped, registers changed, 0 at the end /
        _PROMOTE before an update that promotes the value / _IRREGULAR after an update that
        left the value irregular, which ``_SparseEditor`` must then go on with)."""
        regs = self.regs
        marks = self.marks
        find = marks.find
        find_back = marks.rfind
        split_delta = _SPLIT_DELTA
        size = self.size
        changed = 0
        total = len(pairs)
        top = REGISTERS - 1
        j = 0
        while j < total:
            index, count = pairs[j]
            current = regs[index]
            if current >= count:
                j += 1
                continue
            if count > _VAL_MAX:
                self.size = size
                return j, changed, _PROMOTE
            if not current:  # in a run of zeros: ZERO / XZERO split around a new VAL
                # the zeros on either side, 65 standing for 65 or more
                found = find_back(1, index - _WINDOW if index > _WINDOW else 0, index)
                before = index - 1 - found if found >= 0 else min(index, _WINDOW)
                found = find(1, index + 1, index + 1 + _WINDOW)
                after = found - 1 - index if found >= 0 else min(top - index, _WINDOW)
                delta = split_delta[before * (_WINDOW + 1) + after]
                if delta and size + delta > max_bytes:
                    self.size = size
                    return j, changed, _PROMOTE
                size += delta
                regs[index] = count
                marks[index] = 1
                if (not before and index) or (not after and index < top):  # next to a run
                    merges, regular = self._join(index, count, before)
                    size -= merges
                    if not regular:
                        self.size = size
                        return j + 1, changed + 1, _IRREGULAR
            elif (index and marks[index - 1]) or (index < top and marks[index + 1]):
                # in a run of non-zero registers: its VALs split and merged
                grown = self._split(index, current, count, size, max_bytes)
                if grown is None:
                    self.size = size
                    return j, changed, _PROMOTE
                size += grown
                if not self._regular(index):
                    self.size = size
                    return j + 1, changed + 1, _IRREGULAR
            else:  # a lone VAL of one register
                regs[index] = count
            changed += 1
            j += 1
        self.size = size
        return j, changed, 0

    def _join(self, index: int, count: int, before: int) -> tuple[int, bool]:
        """The new VAL at ``index`` is next to a run of non-zero registers (or two): the runs
        become one, merged from the opcode before the split one. (The number of merges, whether
        the run is still regular.)"""
        regs = self.regs
        groups = self.groups
        ops: list[int] = []
        left = regs[index - 1] if index else 0
        right = regs[index + 1] if index < REGISTERS - 1 else 0
        if left:
            first = regs.rfind(0, 0, index) + 1
            ops = groups.pop(first) if first < index - 1 else [_val(left, 1)]
            start, scan = len(ops) - 1, 5  # from the last VAL of the run on the left
        else:
            first = index
            # the split opcode is the first of the value (5 to scan from it), or there is a VAL
            # before it (that one, then the zeros before the new VAL: 2 of the 5 spent)
            start, scan = 0, 5 if not before else 4 if index == before else 3
        ops.append(_val(count, 1))
        if right:
            last = regs.find(0, index + 1)
            if last < 0:
                last = REGISTERS
            ops += groups.pop(index + 1) if last - index > 2 else [_val(right, 1)]
        merges = _merge_scan(ops, start, scan)
        groups[first] = ops
        return merges, not any(_mergeable(a, b) for a, b in pairwise(ops))

    def _split(self, index: int, current: int, count: int, size: int, max_bytes: int) -> int | None:
        """Raise a register of a run of two or more non-zero registers: the change in size, or
        None (nothing done) if the split would grow the value past ``max_bytes``."""
        regs = self.regs
        first = regs.rfind(0, 0, index) + 1
        ops = self.groups[first]
        k = 0
        start = first
        run = (ops[0] & 3) + 1
        while index >= start + run:
            start += run
            k += 1
            run = (ops[k] & 3) + 1
        if run == 1:
            ops[k] = _val(count, 1)
            delta = 0
        else:
            seq = [_val(current, index - start)] if index != start else []
            seq.append(_val(count, 1))
            if index != start + run - 1:
                seq.append(_val(current, start + run - 1 - index))
            delta = len(seq) - 1
            if delta > 0 and size + delta > max_bytes:
                return None
            ops[k : k + 1] = seq
        regs[index] = count
        # from the VAL before; else the opcode before is a zero one (one of the 5 spent), or none
        merges = _merge_scan(ops, k - 1, 5) if k else _merge_scan(ops, 0, 4 if first else 5)
        return delta - merges

    def _regular(self, index: int) -> bool:
        """No two adjacent VALs of the run holding ``index`` are mergeable."""
        ops = self.groups[self.regs.rfind(0, 0, index) + 1]
        return not any(_mergeable(a, b) for a, b in pairwise(ops))


class _SparseEditor:
    """The opcodes of a sparse value as ints (a byte; XZERO as its two bytes, 0x4000..0x7fff)
    and their runs, with hllSparseSet's update rules."""

    __slots__ = ("firsts", "ops", "promote", "runs", "size")

    def __init__(self, ops: list[int], runs: list[int], size: int) -> None:
        self.ops = ops
        self.runs = runs
        # the first register of each opcode (and the total): a split or a merge keeps the others'
        # values, so this is kept by splicing, never summed again
        self.firsts = list(accumulate(runs, initial=0))
        self.size = size  # the value's length in bytes, as Redis checks it against max_bytes
        self.promote: tuple[int, int] | None = None

    @classmethod
    def decode(cls, value: bytearray) -> _SparseEditor | None:
        ops: list[int] = []
        runs: list[int] = []
        p = HEADER
        end = len(value)
        while p < end:
            b = value[p]
            if b & 0x80:
                ops.append(b)
                runs.append((b & 3) + 1)
                p += 1
            elif b & 0x40:
                if p + 1 == end:
                    return None
                op = b << 8 | value[p + 1]
                ops.append(op)
                runs.append((op & 0x3FFF) + 1)
                p += 2
            else:
                ops.append(b)
                runs.append(b + 1)
                p += 1
        return cls(ops, runs, end)

    def encode(self, value: bytearray) -> None:
        out = bytearray()
        for op in self.ops:
            if op > 0xFF:
                out.append(op >> 8)
            out.append(op & 0xFF)
        value[HEADER:] = out

    def apply(self, pairs: list[tuple[int, int]], j: int, max_bytes: int) -> tuple[int, int, bool]:
        """Raise the registers of ``pairs`` from ``j`` on: (where it stopped, registers changed,
        corrupt?). It stops before an update that promotes the value (``self.promote`` is then
        set)."""
        changed = 0
        total = len(pairs)
        while j < total:
            index, count = pairs[j]
            result = self.set(index, count, max_bytes)
            if result == _CORRUPT:
                return j, changed, True
            if result == _PROMOTE:
                self.promote = (index, count)
                return j, changed, False
            changed += result
            j += 1
        return j, changed, False

    def set(self, index: int, count: int, max_bytes: int) -> int:
        """hllSparseSet on the lists: 1 changed, 0 not, or _CORRUPT, or _PROMOTE (nothing done:
        the value must become dense first)."""
        if count > _VAL_MAX:
            return _PROMOTE
        ops, runs, firsts = self.ops, self.runs, self.firsts
        k = bisect_right(firsts, index) - 1
        if k >= len(ops):
            return _CORRUPT
        op = ops[k]
        run = runs[k]
        is_val = op & 0x80 and op <= 0xFF
        current = ((op >> 2) & 0x1F) + 1
        if is_val and current >= count:
            return 0
        if run == 1 and op <= 0xFF:  # a VAL or ZERO of one register becomes a VAL
            ops[k] = _val(count, 1)
        else:
            first = firsts[k]
            last = first + run - 1
            new_ops: list[int] = []
            new_runs: list[int] = []
            if index != first:
                new_ops.append(_val(current, index - first) if is_val else _zero_op(index - first))
                new_runs.append(index - first)
            new_ops.append(_val(count, 1))
            new_runs.append(1)
            if index != last:
                new_ops.append(_val(current, last - index) if is_val else _zero_op(last - index))
                new_runs.append(last - index)
            delta = len(new_ops) + (new_ops[0] > 0xFF) + (new_ops[-1] > 0xFF) - 1 - (op > 0xFF)
            if delta > 0 and self.size + delta > max_bytes:
                return _PROMOTE
            ops[k : k + 1] = new_ops
            runs[k : k + 1] = new_runs
            firsts[k : k + 1] = list(accumulate(new_runs[:-1], initial=first))
            self.size += delta
        self._merge(k - 1 if k > 0 else 0)
        return 1

    def _merge(self, i: int) -> None:
        ops, runs = self.ops, self.runs
        scan = 5
        while i < len(ops) and scan > 0:
            scan -= 1
            op = ops[i]
            if op > 0xFF or not op & 0x80:
                i += 1
                continue
            if i + 1 < len(ops):
                following = ops[i + 1]
                if following & 0x80 and following <= 0xFF and (op >> 2) & 0x1F == (following >> 2) & 0x1F:
                    run = runs[i] + runs[i + 1]
                    if run <= _VAL_RUN:
                        ops[i + 1] = _val(((op >> 2) & 0x1F) + 1, run)
                        runs[i + 1] = run
                        del ops[i]
                        del runs[i]
                        del self.firsts[i + 1]
                        self.size -= 1
                        continue
            i += 1


def _zero_op(run: int) -> int:
    return 0x4000 | (run - 1) if run > _ZERO_RUN else run - 1


# --- counting and merging -----------------------------------------------------------------------


def registers(value: bytes | bytearray) -> bytes:
    """All 16384 registers, one byte each (CorruptHLL for a sparse value that doesn't add up)."""
    if value[4] == DENSE:
        return unpack(memoryview(value)[HEADER:])
    return sparse_registers(value)


def _histogram(regs: bytes) -> list[int]:
    histogram = [0] * 64
    left = REGISTERS
    for v in range(_Q + 2):
        n = regs.count(v)
        histogram[v] = n
        left -= n
        if not left:
            break
    return histogram


def _sparse_histogram(value: bytes | bytearray) -> list[int]:
    """hllSparseRegHisto: no overflow check while walking; CorruptHLL if the runs don't add up."""
    histogram = [0] * 64
    index = 0
    p = HEADER
    end = len(value)
    while p < end:
        kind, run, size = _opcode(value, p, end)
        histogram[((value[p] >> 2) & 0x1F) + 1 if kind == 2 else 0] += run
        index += run
        p += size
    if index != REGISTERS:
        raise CorruptHLL
    return histogram


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if previous == z:
            return z / 3


def estimate(histogram: list[int]) -> int:
    """hllCount's estimator over a register histogram (doubles, as Redis computes it)."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[_Q + 1]) / m)
    for j in range(_Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole + 1 if e - whole >= 0.5 else whole)  # llroundl: half away from zero


def count(value: bytes | bytearray) -> int:
    """The estimated cardinality of one HyperLogLog (CorruptHLL for a bad sparse value)."""
    if value[4] == DENSE:
        return estimate(_histogram(unpack(memoryview(value)[HEADER:])))
    return estimate(_sparse_histogram(value))


def count_registers(regs: bytes) -> int:
    """The estimated cardinality of a merged register array (PFCOUNT of several keys)."""
    return estimate(_histogram(regs))


_HIGH_BITS: Final = int.from_bytes(b"\x80" * REGISTERS, "big")


def maximum(a: int, b: int) -> int:
    """Register-wise maximum of two register arrays held as big integers (bytes < 128):
    a lane of ((a | 0x80) - b) keeps its top bit exactly where a >= b."""
    chosen = (((a | _HIGH_BITS) - b) & _HIGH_BITS) >> 7
    lanes = chosen * 0xFF
    return (a & lanes) | (b & ~lanes)


def merge_into(dest: bytearray, regs: bytes, dense: bool, max_bytes: int) -> None:
    """PFMERGE's write: raise the registers of ``dest`` (already part of ``regs``) to ``regs``,
    as Redis does it: all at once if dense (or made dense), else one by one in ascending order
    into the sparse value, which may be promoted on the way. CorruptHLL if ``dest`` is corrupt."""
    if dense or dest[4] == DENSE:
        to_dense(dest)
        dest[HEADER:] = pack(regs)
        invalidate(dest)
        return
    editor = _SparseEditor.decode(dest)
    if editor is None:  # a truncated last opcode: the byte-wise updates
        resume = [HEADER, 0]
        for index, register in enumerate(regs):
            if register and sparse_set(dest, index, register, max_bytes, resume) < 0:
                raise CorruptHLL
            if dest[4] == DENSE:  # promoted: the rest of the registers are plain stores
                dest[HEADER:] = pack(regs)
                break
        invalidate(dest)
        return
    for index, register in enumerate(regs):
        if not register:
            continue
        result = editor.set(index, register, max_bytes)
        if result == _CORRUPT:
            raise CorruptHLL
        if result == _PROMOTE:  # promoted: every register is then a plain store
            editor.encode(dest)
            to_dense(dest)
            dest[HEADER:] = pack(regs)
            invalidate(dest)
            return
    editor.encode(dest)
    invalidate(dest)


def decode(value: bytes | bytearray) -> bytes:
    """PFDEBUG DECODE: the sparse opcodes as text ("z:3 v:2,1 Z:16000")."""
    parts = []
    p = HEADER
    end = len(value)
    while p < end:
        kind, run, size = _opcode(value, p, end)
        if kind == 2:
            parts.append(b"v:%d,%d" % (((value[p] >> 2) & 0x1F) + 1, run))
        else:
            parts.append(b"%s:%d" % (b"Z" if kind else b"z", run))
        p += size
    return b" ".join(parts)


__all__ = [
    "DENSE",
    "SPARSE",
    "CorruptHLL",
    "add",
    "add_many",
    "cached_count",
    "count",
    "count_registers",
    "decode",
    "is_hll",
    "merge_into",
    "maximum",
    "new_hll",
    "pattern",
    "patterns",
    "raise_registers",
    "registers",
    "store_count",
    "to_dense",
]
