"""Redis 7.0's DUMP payload, sans IO: a value's RDB serialisation, then the RDB version and a CRC64.

``payload = type:u8 body rdb_version:u16le crc64:u64le`` where the CRC (Jones polynomial,
reflected, as Redis's crc64.c) covers everything before it. ``encode`` writes what Redis 7.0.15
writes for the same value and encoding limits with ``rdbcompression no``: strings with the
integer encodings where Redis uses them, lists as QUICKLIST_2 of listpacks split as the
quicklist splits them (``list-max-listpack-size``), sets as INTSET when small and all integers
else SET, hashes and sorted sets as LISTPACK when small else HASH / ZSET_2 (binary doubles, from
the highest rank down). Hashes and sorted sets in listpacks, lists and intsets come out byte
for byte as Redis's; a big set or hash iterates in another order than Redis's hash table. LZF
is read, never written: Redis's compressor starts from an uninitialised hash table, so its output
depends on what it compressed before and can't be reproduced anyway.

``decode`` reads every value format Redis 7.0 writes or still loads: the above, LZF strings,
ziplists (lists, hashes, sorted sets of RDB 7-9), quicklists of ziplists, zipmaps, the linked
list, and ZSET with string scores. Every length is checked against the bytes present before
anything is built from it, so a truncated or hostile payload is a ``BadPayload`` (RESTORE's
"Bad data format"), never a huge allocation; empty containers and duplicate members are refused
as Redis refuses them. A wrong version or CRC is ``BadFooter``.

Types plug in here: ``register(kind, encode)`` for the Python type of a value (subclasses find
their base's encoder) and ``register_decoder(type_byte, decode)`` for an RDB type; strings,
lists, sets, hashes and sorted sets register below.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from kvserver.zset import ZSet

RDB_VERSION: Final = 10  # Redis 7.0

# RDB object types (rdb.h)
TYPE_STRING: Final = 0
TYPE_LIST: Final = 1
TYPE_SET: Final = 2
TYPE_ZSET: Final = 3
TYPE_HASH: Final = 4
TYPE_ZSET_2: Final = 5
TYPE_HASH_ZIPMAP: Final = 9
TYPE_LIST_ZIPLIST: Final = 10
TYPE_SET_INTSET: Final = 11
TYPE_ZSET_ZIPLIST: Final = 12
TYPE_HASH_ZIPLIST: Final = 13
TYPE_LIST_QUICKLIST: Final = 14
TYPE_STREAM_LISTPACKS: Final = 15
TYPE_HASH_LISTPACK: Final = 16
TYPE_ZSET_LISTPACK: Final = 17
TYPE_LIST_QUICKLIST_2: Final = 18
TYPE_STREAM_LISTPACKS_2: Final = 19

_ENC_INT8, _ENC_INT16, _ENC_INT32, _ENC_LZF = 0, 1, 2, 3
_QUICKLIST_PLAIN, _QUICKLIST_PACKED = 1, 2
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
MAX_STRING: Final = 512 * 1024 * 1024  # no string of a payload grows past Redis's largest


class BadPayload(Exception):
    """The value can't be decoded (RESTORE: "Bad data format")."""


class BadFooter(Exception):
    """The RDB version is newer than 7.0's or the CRC does not match."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The encoding thresholds (Redis's *-max-listpack-* / set-max-intset-entries configs)."""

    hash_entries: int = 512
    hash_value: int = 64
    list_fill: int = -2
    set_intset_entries: int = 512
    zset_entries: int = 128
    zset_value: int = 64


# --- CRC64 (Jones, reflected, as Redis's crc64.c) ------------------------------------------------
# A byte loop costs a Python step per byte (~2 MB/s here). Instead the CRC is computed as the
# polynomial remainder it is: with every byte's bits reversed, the data read big-endian is a
# polynomial M over GF(2), and Redis's CRC is the bit reversal of (M * x^64) mod P. The
# remainder is taken by folding the top half onto the bottom one (hi * (x^h mod P) ^ lo, a
# product computed with ~32 shifts and XORs of big integers, at C speed) until 128 bits remain.

_POLY: Final = 0xAD93D23594C935A9 | (1 << 64)  # P(x), degree 64, most significant bit first
_REVERSED_BITS: Final = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_X_POWERS: dict[int, int] = {}  # n -> x^n mod P


def _times(a: int, b: int) -> int:
    """a * b over GF(2) for a small ``b``: one shift and XOR of ``a`` per bit set in ``b``."""
    product = 0
    while b:
        low = b & -b
        product ^= a << (low.bit_length() - 1)
        b ^= low
    return product


def _reduce(m: int) -> int:
    """m mod P, bit by bit (for an ``m`` of up to ~128 bits)."""
    while m.bit_length() > 64:
        m ^= _POLY << (m.bit_length() - 65)
    return m


def _x_power(n: int) -> int:
    power = _X_POWERS.get(n)
    if power is None:
        power, base, e = 1, 2, n
        while e:
            if e & 1:
                power = _reduce(_times(power, base))
            base = _reduce(_times(base, base))
            e >>= 1
        _X_POWERS[n] = power
    return power


def _remainder(m: int) -> int:
    while m.bit_length() > 128:
        half = m.bit_length() // 2
        m = _times(m >> half, _x_power(half)) ^ (m & ((1 << half) - 1))
    return _reduce(m)


def _reflect64(value: int) -> int:
    return int(f"{value:064b}"[::-1], 2)


def _byte_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _REFLECTED_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_REFLECTED_POLY: Final = 0x95AC9329AC4BC9B5
_BYTE_TABLE: Final = _byte_table()
_SMALL: Final = 1024  # below this many bytes the byte loop is faster than the folding's overhead
_CHUNK: Final = 1 << 20


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Redis's crc64(crc, data): 0xe9c6d914c4b8d9ca for b"123456789"; ``crc`` chains. Big data
    goes a megabyte at a time, so the integers built stay small whatever the value's size."""
    view = memoryview(data).cast("B")
    if len(view) < _SMALL:
        table = _BYTE_TABLE
        for byte in view:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK]
        message = int.from_bytes(bytes(chunk).translate(_REVERSED_BITS), "big")
        result = _reflect64(_remainder(message << 64))
        if crc:  # the running value's contribution, carried past the chunk
            result ^= _reflect64(_remainder(_times(_reflect64(crc), _x_power(8 * len(chunk)))))
        crc = result
    return crc


# --- reading ----------------------------------------------------------------------------------------


class Reader:
    """A cursor over a payload's body; every read checks that the bytes are there."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadPayload("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise BadPayload("truncated")
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def length(self) -> tuple[int, bool]:
        """rdbLoadLen: (length, False), or (encoding, True) for a specially encoded string."""
        first = self.u8()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.u8(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise BadPayload("unknown length encoding")

    def count(self) -> int:
        """A container's element count: a plain length, at least 1 (Redis refuses empty keys)."""
        value, encoded = self.length()
        if encoded or value == 0:
            raise BadPayload("bad count")
        return value

    def string(self) -> bytes:
        """rdbGenericLoadStringObject: raw, integer-encoded or LZF-compressed."""
        value, encoded = self.length()
        if not encoded:
            return self.take(value)
        if value == _ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if value == _ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if value == _ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if value == _ENC_LZF:
            compressed_len, bad = self.length()
            plain_len, bad2 = self.length()
            if bad or bad2:
                raise BadPayload("bad LZF lengths")
            return lzf_decompress(self.take(compressed_len), plain_len)
        raise BadPayload("unknown string encoding")

    def binary_double(self) -> float:
        value: float = struct.unpack("<d", self.take(8))[0]
        return value

    def string_double(self) -> float:
        """rdbLoadDoubleValue (ZSET of RDB < 8): a length byte, 253 nan, 254 +inf, 255 -inf."""
        size = self.u8()
        if size == 253:
            return math.nan
        if size == 254:
            return math.inf
        if size == 255:
            return -math.inf
        return _parse_double(self.take(size))


def _parse_double(raw: bytes) -> float:
    try:
        return float(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("bad double") from None


def lzf_decompress(data: bytes, plain_len: int) -> bytes:
    """lzf_d.c: literal runs and back references; the output must be exactly ``plain_len``."""
    # each input byte produces at most 264/2 bytes (a 3-byte reference of 264): refuse claims
    # that the input can't back before allocating anything
    if plain_len == 0 or plain_len > len(data) * 132 or plain_len > MAX_STRING:
        raise BadPayload("bad LZF length")
    out = bytearray()
    i = 0
    end = len(data)
    while i < end:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > end or len(out) + run > plain_len:
                raise BadPayload("bad LZF literal")
            out += data[i : i + run]
            i += run
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= end:
                raise BadPayload("bad LZF reference")
            length += data[i]
            i += 1
        if i >= end:
            raise BadPayload("bad LZF reference")
        offset = ((ctrl & 0x1F) << 8) + data[i] + 1
        i += 1
        length += 2
        start = len(out) - offset
        if start < 0 or len(out) + length > plain_len:
            raise BadPayload("bad LZF reference")
        if offset >= length:
            out += out[start : start + length]
        else:
            for k in range(length):
                out.append(out[start + k])
    if len(out) != plain_len:
        raise BadPayload("bad LZF length")
    return bytes(out)


# --- compact encodings: listpack, ziplist, intset, zipmap --------------------------------------------


def _int_text(value: int) -> bytes:
    return b"%d" % value


def _within(blob: bytes, pos: int, n: int, last: int) -> bytes:
    """``n`` bytes of ``blob`` from ``pos``, which must end at or before ``last``."""
    if pos + n > last:
        raise BadPayload("entry past the end")
    return blob[pos : pos + n]


def listpack_entries(blob: bytes) -> list[bytes]:
    """A listpack's elements (integers as their decimal text), with every field checked."""
    size = len(blob)
    if size < 7 or int.from_bytes(blob[0:4], "little") != size or blob[-1] != 0xFF:
        raise BadPayload("bad listpack header")
    declared = int.from_bytes(blob[4:6], "little")
    entries: list[bytes] = []
    pos = 6
    last = size - 1
    while pos < last:
        start = pos
        first = blob[pos]
        if first < 0x80:  # 7-bit unsigned integer
            entries.append(_int_text(first))
            pos += 1
        elif first < 0xC0:  # 6-bit string length
            n = first & 0x3F
            entries.append(_within(blob, pos + 1, n, last))
            pos += 1 + n
        elif first < 0xE0:  # 13-bit signed integer
            if pos + 2 > last:
                raise BadPayload("listpack entry past the end")
            value = ((first & 0x1F) << 8) | blob[pos + 1]
            entries.append(_int_text(value - (1 << 13) if value >= 1 << 12 else value))
            pos += 2
        elif first < 0xF0:  # 12-bit string length
            if pos + 2 > last:
                raise BadPayload("listpack entry past the end")
            n = ((first & 0x0F) << 8) | blob[pos + 1]
            entries.append(_within(blob, pos + 2, n, last))
            pos += 2 + n
        elif first == 0xF0:  # 32-bit string length
            if pos + 5 > last:
                raise BadPayload("listpack entry past the end")
            n = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            entries.append(_within(blob, pos + 5, n, last))
            pos += 5 + n
        elif 0xF1 <= first <= 0xF4:
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[first]
            if pos + 1 + width > last:
                raise BadPayload("listpack entry past the end")
            entries.append(_int_text(int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True)))
            pos += 1 + width
        else:
            raise BadPayload("bad listpack entry encoding")
        encoded = _backlen(pos - start)
        if blob[pos : pos + len(encoded)] != encoded:
            raise BadPayload("bad listpack back length")
        pos += len(encoded)
    if pos != last:
        raise BadPayload("listpack entry past the end")
    if declared != 65535 and declared != len(entries):
        raise BadPayload("bad listpack count")
    return entries


def ziplist_entries(blob: bytes) -> list[bytes]:
    """A ziplist's elements (RDB 7-9 lists, hashes, sorted sets; quicklist v1 nodes)."""
    size = len(blob)
    if size < 11 or int.from_bytes(blob[0:4], "little") != size or blob[-1] != 0xFF:
        raise BadPayload("bad ziplist header")
    declared = int.from_bytes(blob[8:10], "little")
    tail = int.from_bytes(blob[4:8], "little")
    entries: list[bytes] = []
    pos = 10
    last = size - 1
    previous = 0
    previous_start = 10
    while pos < last:
        start = pos
        first = blob[pos]
        if first < 0xFE:
            prevlen = first
            pos += 1
        else:
            if first == 0xFF or pos + 5 > last:
                raise BadPayload("bad ziplist prevlen")
            prevlen = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            pos += 5
        if prevlen != previous:
            raise BadPayload("bad ziplist prevlen")
        if pos >= last:
            raise BadPayload("ziplist entry past the end")
        enc = blob[pos]
        kind = enc >> 6
        if kind < 3:  # a string
            if kind == 0:
                n = enc & 0x3F
                pos += 1
            elif kind == 1:
                if pos + 2 > last:
                    raise BadPayload("ziplist entry past the end")
                n = ((enc & 0x3F) << 8) | blob[pos + 1]
                pos += 2
            else:
                if enc != 0x80 or pos + 5 > last:
                    raise BadPayload("bad ziplist string encoding")
                n = int.from_bytes(blob[pos + 1 : pos + 5], "big")
                pos += 5
            entries.append(_within(blob, pos, n, last))
            pos += n
        else:
            width = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(enc)
            if width is not None:
                if pos + 1 + width > last:
                    raise BadPayload("ziplist entry past the end")
                entries.append(_int_text(int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True)))
                pos += 1 + width
            elif 0xF1 <= enc <= 0xFD:
                entries.append(_int_text((enc & 0x0F) - 1))
                pos += 1
            else:
                raise BadPayload("bad ziplist entry encoding")
        previous = pos - start
        previous_start = start
    if pos != last or (entries and tail != previous_start) or (not entries and tail != 10):
        raise BadPayload("bad ziplist layout")
    if declared != 65535 and declared != len(entries):
        raise BadPayload("bad ziplist count")
    return entries


def intset_members(blob: bytes) -> list[bytes]:
    """An intset's members: width 2, 4 or 8, strictly ascending, the length matching."""
    if len(blob) < 8:
        raise BadPayload("bad intset header")
    width = int.from_bytes(blob[0:4], "little")
    count = int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or count == 0 or len(blob) != 8 + width * count:
        raise BadPayload("bad intset header")
    fmt = {2: "<%dh", 4: "<%di", 8: "<%dq"}[width] % count
    values = struct.unpack(fmt, blob[8:])
    if any(a >= b for a, b in pairwise(values)):
        raise BadPayload("intset not sorted")
    return [_int_text(v) for v in values]


def zipmap_pairs(blob: bytes) -> list[bytes]:
    """A zipmap's fields and values, alternating (hashes of RDB < 4)."""
    pos = 1
    end = len(blob)
    items: list[bytes] = []

    def length() -> int:
        nonlocal pos
        if pos >= end:
            raise BadPayload("truncated zipmap")
        first = blob[pos]
        if first < 254:
            pos += 1
            return first
        if first == 254 and pos + 5 <= end:
            pos += 5
            return int.from_bytes(blob[pos - 4 : pos], "little")
        raise BadPayload("bad zipmap length")

    while True:
        if pos >= end:
            raise BadPayload("truncated zipmap")
        if blob[pos] == 0xFF:
            if pos != end - 1:
                raise BadPayload("zipmap past its end")
            return items
        n = length()
        if pos + n > end:
            raise BadPayload("truncated zipmap")
        items.append(blob[pos : pos + n])
        pos += n
        n = length()
        if pos >= end:
            raise BadPayload("truncated zipmap")
        free = blob[pos]
        pos += 1
        if pos + n + free > end:
            raise BadPayload("truncated zipmap")
        items.append(blob[pos : pos + n])
        pos += n + free


# --- writing ------------------------------------------------------------------------------------------


def encode_length(n: int) -> bytes:
    """rdbSaveLen."""
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def _canonical_int(raw: bytes) -> int | None:
    """Redis's string2ll (no '+', spaces, leading zeros or "-0"), for a string of 1-20 bytes."""
    if not 0 < len(raw) <= 20:
        return None
    digits = raw[1:] if raw[:1] == b"-" else raw
    if not digits.isdigit() or not digits.isascii() or (digits[0] == 48 and (len(digits) > 1 or raw[:1] == b"-")):
        return None
    value = int(raw)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def encode_string(raw: bytes) -> bytes:
    """rdbSaveRawString (without LZF): the integer encodings for a short canonical integer."""
    if len(raw) <= 11:
        value = _canonical_int(raw)
        if value is not None:
            if -128 <= value <= 127:
                return b"\xc0" + value.to_bytes(1, "little", signed=True)
            if -32768 <= value <= 32767:
                return b"\xc1" + value.to_bytes(2, "little", signed=True)
            if -(2**31) <= value < 2**31:
                return b"\xc2" + value.to_bytes(4, "little", signed=True)
    return encode_length(len(raw)) + raw


def _backlen(n: int) -> bytes:
    """lpEncodeBacklen: an entry's length, readable right to left."""
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128, (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128, (n & 127) | 128))


def listpack_entry(raw: bytes) -> bytes:
    """One listpack entry with its back length, as lpAppend encodes ``raw``."""
    value = _canonical_int(raw)
    if value is not None:
        if 0 <= value <= 127:
            body = bytes((value,))
        elif -4096 <= value <= 4095:
            v = value & 0x1FFF
            body = bytes((0xC0 | (v >> 8), v & 0xFF))
        elif -32768 <= value <= 32767:
            body = b"\xf1" + value.to_bytes(2, "little", signed=True)
        elif -8388608 <= value <= 8388607:
            body = b"\xf2" + value.to_bytes(3, "little", signed=True)
        elif -(2**31) <= value < 2**31:
            body = b"\xf3" + value.to_bytes(4, "little", signed=True)
        else:
            body = b"\xf4" + value.to_bytes(8, "little", signed=True)
    else:
        n = len(raw)
        if n < 64:
            body = bytes((0x80 | n,)) + raw
        elif n < 4096:
            body = bytes((0xE0 | (n >> 8), n & 0xFF)) + raw
        else:
            body = b"\xf0" + n.to_bytes(4, "little") + raw
    return body + _backlen(len(body))


def _listpack(entries: list[bytes], count: int) -> bytes:
    """A listpack of already encoded entries."""
    size = 7 + sum(map(len, entries))
    return size.to_bytes(4, "little") + min(count, 65535).to_bytes(2, "little") + b"".join(entries) + b"\xff"


def listpack(items: Iterable[bytes]) -> bytes:
    entries = [listpack_entry(item) for item in items]
    return _listpack(entries, len(entries))


def format_score(score: float) -> bytes:
    """d2string: a score as a listpack stores it (integers as integers, else %.17g)."""
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if score == 0:
        return b"-0" if math.copysign(1.0, score) < 0 else b"0"
    if -4611686018427387904.0 <= score <= 4611686018427387904.0 and score == int(score):
        return b"%d" % int(score)
    return b"%.17g" % score


_LIST_LEVELS: Final = (4096, 8192, 16384, 32768, 65536)


def _quicklist_nodes(items: Iterable[bytes], fill: int) -> list[bytes]:
    """The listpacks of a quicklist built by pushing ``items`` at the tail (quicklist.c's
    _quicklistNodeAllowInsert, with list-max-listpack-size ``fill``)."""
    fill = max(-5, min(fill, 1 << 15))
    nodes: list[bytes] = []
    entries: list[bytes] = []
    size = 0
    for item in items:
        if entries:
            new_size = size + len(item) + 8
            # a size level for a negative fill, else 8 kB and at most ``fill`` elements
            fits = new_size <= _LIST_LEVELS[-fill - 1] if fill < 0 else new_size <= 8192 and len(entries) < fill
            if not fits:
                nodes.append(_listpack(entries, len(entries)))
                entries, size = [], 0
        if not entries:
            size = 7
        entry = listpack_entry(item)
        entries.append(entry)
        size += len(entry)
    if entries:
        nodes.append(_listpack(entries, len(entries)))
    return nodes


def encode_list(value: Iterable[bytes], limits: Limits) -> bytes:
    nodes = _quicklist_nodes(value, limits.list_fill)
    out = [bytes((TYPE_LIST_QUICKLIST_2,)), encode_length(len(nodes))]
    for node in nodes:
        out += (encode_length(_QUICKLIST_PACKED), encode_string(node))
    return b"".join(out)


def encode_set(value: set[bytes], limits: Limits) -> bytes:
    if len(value) <= limits.set_intset_entries:
        numbers = [_canonical_int(member) for member in value]
        if all(n is not None for n in numbers):
            ints = sorted(n for n in numbers if n is not None)
            low, high = ints[0], ints[-1]
            width, code = (2, "h") if low >= -32768 and high <= 32767 else (4, "i")
            if not (low >= -(2**31) and high < 2**31):
                width, code = 8, "q"
            blob = struct.pack(f"<II{len(ints)}{code}", width, len(ints), *ints)
            return bytes((TYPE_SET_INTSET,)) + encode_string(blob)
    out = [bytes((TYPE_SET,)), encode_length(len(value))]
    out += map(encode_string, value)
    return b"".join(out)


def encode_hash(value: dict[bytes, bytes], limits: Limits) -> bytes:
    if len(value) <= limits.hash_entries and all(
        len(f) <= limits.hash_value and len(v) <= limits.hash_value for f, v in value.items()
    ):
        pairs = [item for pair in value.items() for item in pair]
        return bytes((TYPE_HASH_LISTPACK,)) + encode_string(listpack(pairs))
    out = [bytes((TYPE_HASH,)), encode_length(len(value))]
    for field, item in value.items():
        out += (encode_string(field), encode_string(item))
    return b"".join(out)


def encode_zset(value: ZSet, limits: Limits) -> bytes:
    if len(value) <= limits.zset_entries and all(len(m) <= limits.zset_value for m in value.scores):
        pairs = [item for score, member in value for item in (member, format_score(score))]
        return bytes((TYPE_ZSET_LISTPACK,)) + encode_string(listpack(pairs))
    out = [bytes((TYPE_ZSET_2,)), encode_length(len(value))]
    for score, member in reversed(value.index):  # as Redis: from the tail, so loading appends
        out += (encode_string(member), struct.pack("<d", score))
    return b"".join(out)


def encode_bytes(value: bytes | bytearray, limits: Limits) -> bytes:
    return bytes((TYPE_STRING,)) + encode_string(bytes(value))


# --- decoding into kvserver's values ------------------------------------------------------------------


def _new_set(members: Iterable[bytes]) -> set[bytes]:
    result: set[bytes] = set()
    n = 0
    for member in members:
        result.add(member)
        n += 1
    if len(result) != n or not result:
        raise BadPayload("duplicate or no set members")
    return result


def _new_hash(items: list[bytes]) -> dict[bytes, bytes]:
    if not items or len(items) % 2:
        raise BadPayload("bad hash pairs")
    result = dict(zip(items[::2], items[1::2], strict=True))
    if len(result) * 2 != len(items):
        raise BadPayload("duplicate hash fields")
    return result


def _new_zset(pairs: Iterable[tuple[bytes, float]]) -> ZSet:
    result = ZSet()
    for member, score in pairs:
        if math.isnan(score) or not result.add(member, score):
            raise BadPayload("duplicate member or NaN score")
    if not len(result):
        raise BadPayload("empty sorted set")
    return result


def _listpack_scores(items: list[bytes]) -> Iterable[tuple[bytes, float]]:
    if len(items) % 2:
        raise BadPayload("bad sorted set pairs")
    return ((items[i], _parse_double(items[i + 1])) for i in range(0, len(items), 2))


def _decode_string(reader: Reader) -> object:
    return reader.string()


def _decode_list(reader: Reader) -> object:
    return deque(reader.string() for _ in range(reader.count()))


def _decode_ziplist_list(reader: Reader) -> object:
    items = ziplist_entries(reader.string())
    if not items:
        raise BadPayload("empty list")
    return deque(items)


def _decode_quicklist(reader: Reader, version: int) -> object:
    result: deque[bytes] = deque()
    for _ in range(reader.count()):
        if version == 2:
            container, encoded = reader.length()
            if encoded or container not in (_QUICKLIST_PLAIN, _QUICKLIST_PACKED):
                raise BadPayload("bad quicklist container")
            if container == _QUICKLIST_PLAIN:
                result.append(reader.string())
                continue
            items = listpack_entries(reader.string())
        else:
            items = ziplist_entries(reader.string())
        if not items:
            raise BadPayload("empty quicklist node")
        result.extend(items)
    return result


def _decode_set(reader: Reader) -> object:
    return _new_set(reader.string() for _ in range(reader.count()))


def _decode_intset(reader: Reader) -> object:
    return _new_set(intset_members(reader.string()))


def _decode_hash(reader: Reader) -> object:
    items: list[bytes] = []
    for _ in range(reader.count()):
        items += (reader.string(), reader.string())
    return _new_hash(items)


def _decode_zset(reader: Reader, binary: bool) -> object:
    def pairs() -> Iterable[tuple[bytes, float]]:
        for _ in range(reader.count()):
            member = reader.string()
            yield member, reader.binary_double() if binary else reader.string_double()

    return _new_zset(pairs())


Decoder = Callable[[Reader], object]
Encoder = Callable[[Any, Limits], bytes]
_DECODERS: dict[int, Decoder] = {
    TYPE_STRING: _decode_string,
    TYPE_LIST: _decode_list,
    TYPE_SET: _decode_set,
    TYPE_ZSET: lambda r: _decode_zset(r, binary=False),
    TYPE_HASH: _decode_hash,
    TYPE_ZSET_2: lambda r: _decode_zset(r, binary=True),
    TYPE_HASH_ZIPMAP: lambda r: _new_hash(zipmap_pairs(r.string())),
    TYPE_LIST_ZIPLIST: _decode_ziplist_list,
    TYPE_SET_INTSET: _decode_intset,
    TYPE_ZSET_ZIPLIST: lambda r: _new_zset(_listpack_scores(ziplist_entries(r.string()))),
    TYPE_HASH_ZIPLIST: lambda r: _new_hash(ziplist_entries(r.string())),
    TYPE_LIST_QUICKLIST: lambda r: _decode_quicklist(r, version=1),
    TYPE_HASH_LISTPACK: lambda r: _new_hash(listpack_entries(r.string())),
    TYPE_ZSET_LISTPACK: lambda r: _new_zset(_listpack_scores(listpack_entries(r.string()))),
    TYPE_LIST_QUICKLIST_2: lambda r: _decode_quicklist(r, version=2),
}
_ENCODERS: dict[type, Encoder] = {
    bytes: encode_bytes,
    bytearray: encode_bytes,
    deque: encode_list,
    set: encode_set,
    dict: encode_hash,
    ZSet: encode_zset,
}


def register(kind: type, encode: Encoder) -> None:
    """DUMP values of Python type ``kind`` (and its subclasses) with ``encode``: type byte + body."""
    _ENCODERS[kind] = encode


def register_decoder(rdb_type: int, decode: Decoder) -> None:
    """RESTORE payloads of RDB type ``rdb_type`` with ``decode`` (reads the body, returns a value)."""
    _DECODERS[rdb_type] = decode


def can_encode(value: object) -> bool:
    return any(kind in _ENCODERS for kind in type(value).__mro__)


def encode(value: object, limits: Limits) -> bytes:
    """DUMP's payload for ``value``: its RDB serialisation, RDB_VERSION, and the CRC64."""
    for kind in type(value).__mro__:
        encoder = _ENCODERS.get(kind)
        if encoder is not None:
            break
    else:
        raise TypeError(f"no RDB encoding for {type(value).__name__}")
    body = encoder(value, limits) + RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def check_footer(payload: bytes) -> None:
    """verifyDumpPayload: at least the footer, a version Redis 7.0 reads, the CRC64."""
    if len(payload) < 10:
        raise BadFooter("short payload")
    version = int.from_bytes(payload[-10:-8], "little")
    if version > RDB_VERSION:
        raise BadFooter("newer RDB version")
    if crc64(memoryview(payload)[:-8]) != int.from_bytes(payload[-8:], "little"):
        raise BadFooter("bad CRC")


def decode(payload: bytes) -> object:
    """RESTORE's value: ``BadFooter`` for the version or CRC, ``BadPayload`` for the body. The
    bytes between the value and the footer are ignored, as Redis ignores them."""
    check_footer(payload)
    reader = Reader(payload[:-10])
    decoder = _DECODERS.get(reader.u8())
    if decoder is None:
        raise BadPayload("unknown RDB type")
    return decoder(reader)
