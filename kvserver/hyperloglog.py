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

Speed: a dense update edits one or two bytes of the bytearray in place; reading all registers
(PFCOUNT, PFMERGE) splits and recombines byte strings with ``bytes.translate`` and big-integer
operations (no Python loop over the 16384 registers); the element-wise maximum of two register
arrays is a SIMD-within-a-register expression on two big integers.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
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
            k = ((k ^ (k >> 47)) * m) & mask
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

    A sparse value is edited as two lists (opcodes and their runs) for the whole call, then
    written back once: each update is then a running sum and a bisection over the runs, and
    list splices, instead of a scan and splice of the bytes; the opcodes are the same bytes
    as one hllSparseSet after the other makes."""
    updated = 0
    j = 0
    total = len(elements)
    while j < total and value[4] == SPARSE:
        # a few elements, or a truncated last opcode: the byte-wise path, one element at a time
        editor = _SparseEditor.decode(value) if total - j > _FEW else None
        if editor is None:
            result = add(value, elements[j], max_bytes)
            if result < 0:
                return updated, j
            updated += result
            j += 1
            continue
        j, changed, failed = editor.apply(elements, j, max_bytes)
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
    for k in range(j, total):
        index, count = pattern(elements[k])
        updated += dense_set(value, index, count)
    return updated, -1


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

    def apply(self, elements: list[bytes], j: int, max_bytes: int) -> tuple[int, int, bool]:
        """Add elements from ``j`` on: (where it stopped, registers changed, corrupt?). It stops
        before an element that promotes the value (``self.promote`` is then set)."""
        changed = 0
        total = len(elements)
        while j < total:
            index, count = pattern(elements[j])
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
    "registers",
    "store_count",
    "to_dense",
]
