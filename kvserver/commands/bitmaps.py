"""Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.

Bits are numbered as Redis numbers them: bit 0 is the most significant bit of byte 0. A write
that reaches past the end of the string zero-pads it (the string becomes the ``bytearray`` that
strings.py edits in place, so SETBIT and BITFIELD cost O(1) per bit, not a copy of the value).
Offsets are bounded as Redis's getBitOffsetFromArgument bounds them: the byte holding the bit
must be below ``proto-max-bulk-len`` (512 MB by default).

Reads work on whole chunks with ``int.from_bytes`` and ``int.bit_count`` (BITCOUNT, BITPOS) or
one big integer per source (BITOP), never a Python loop over bits or bytes.

Every write is logged as the command itself (the result is a function of the stored values, so
replay is deterministic): SETBIT and BITFIELD only when they changed or grew the string, BITOP
when it stored a result or deleted the destination.
"""

from __future__ import annotations

from typing import Final

from kvserver.commands.args import parse_int
from kvserver.commands.registry import (
    DENYOOM,
    FAST,
    READONLY,
    SYNTAX,
    WRITE,
    CommandError,
    Context,
    command,
)
from kvserver.commands.strings import mutable_string, string_value
from kvserver.state import ClientState

BITMAP: Final = "bitmap"
BAD_OFFSET: Final = "ERR bit offset is not an integer or out of range"
BAD_BIT: Final = "ERR bit is not an integer or out of range"
BAD_TYPE: Final = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
_CHUNK: Final = 1 << 16  # bytes per big-integer step of BITCOUNT / BITPOS


def bit_offset(ctx: Context, raw: bytes, bits: int = 0) -> int:
    """A bit offset argument; with ``bits`` (BITFIELD), ``#n`` means n times the field width."""
    by_width = bits > 0 and raw[:1] == b"#"
    offset = parse_int(raw[1:] if by_width else raw, BAD_OFFSET)
    if by_width:
        offset *= bits
    if offset < 0 or (offset >> 3) >= ctx.config.proto_max_bulk_len:
        raise CommandError(BAD_OFFSET)
    return offset


def _grown(ctx: Context, key: bytes, last_bit: int) -> tuple[bytearray, bool]:
    """The string at ``key`` as a bytearray holding bit ``last_bit`` (created or zero-padded as
    needed); True if it was created or grew. WRONGTYPE if the key holds another type."""
    size = (last_bit >> 3) + 1
    current = string_value(ctx, key)
    if current is None:
        value = bytearray(size)
        ctx.keyspace.set(key, value)
        return value, True
    value = mutable_string(ctx, key, current)
    if len(value) < size:
        value.extend(bytes(size - len(value)))
        return value, True
    return value, False


@command(
    "setbit",
    4,
    (WRITE, DENYOOM),
    group=BITMAP,
    since="2.2.0",
    summary="Sets or clears the bit at offset in the string value stored at key",
)
def setbit_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    offset = bit_offset(ctx, argv[2])
    on = parse_int(argv[3], BAD_BIT)
    if on & ~1:
        raise CommandError(BAD_BIT)
    key = argv[1]
    byte = offset >> 3
    shift = 7 - (offset & 7)
    current = string_value(ctx, key)
    if current is not None and byte < len(current):
        old = current[byte] >> shift & 1
        if old == on:
            return old
    value, _ = _grown(ctx, key, offset)
    old = value[byte] >> shift & 1
    value[byte] = (value[byte] & ~(1 << shift)) | (on << shift)
    ctx.propagate(argv)
    return old


@command(
    "getbit",
    3,
    (READONLY, FAST),
    group=BITMAP,
    since="2.2.0",
    summary="Returns the bit value at offset in the string value stored at key",
)
def getbit_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    offset = bit_offset(ctx, argv[2])
    value = string_value(ctx, argv[1])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return 0
    return value[byte] >> (7 - (offset & 7)) & 1


def _unit_is_bit(raw: bytes) -> bool:
    unit = raw.lower()
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(SYNTAX)


def _chunks(value: bytes | bytearray, first_bit: int, last_bit: int) -> list[tuple[int, int, int]]:
    """Bits first_bit..last_bit of ``value`` as (integer, bit index of its first bit, width):
    each integer holds the bits of the range in one chunk of bytes, most significant first."""
    view = memoryview(value)
    out = []
    for start in range(first_bit >> 3, (last_bit >> 3) + 1, _CHUNK):
        stop = min(start + _CHUNK, (last_bit >> 3) + 1)
        number = int.from_bytes(view[start:stop], "big")
        width = (stop - start) * 8
        low = max(first_bit - start * 8, 0)  # the range within the chunk, from its top bit
        high = min(last_bit - start * 8, width - 1)
        if low:
            number &= (1 << (width - low)) - 1
        if high != width - 1:
            number >>= width - 1 - high
        out.append((number, start * 8 + low, high - low + 1))
    return out


def _resolve_range(start: int, end: int, size: int) -> tuple[int, int]:
    """Redis's clamping of a start..end range (negative from the end) over ``size`` units."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    end = max(end, 0)
    return start, min(end, size - 1)


@command(
    "bitcount",
    -2,
    (READONLY,),
    group=BITMAP,
    since="2.6.0",
    complexity="O(N)",
    summary="Count set bits in a string",
)
def bitcount_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BITCOUNT key [start end [BYTE|BIT]]"""
    value = string_value(ctx, argv[1])
    if value is None:
        return 0
    argc = len(argv)
    if argc == 2:
        first, last = 0, len(value) * 8 - 1
    elif argc in (4, 5):
        start = parse_int(argv[2])
        end = parse_int(argv[3])
        if start < 0 and end < 0 and start > end:
            return 0
        is_bit = argc == 5 and _unit_is_bit(argv[4])
        start, end = _resolve_range(start, end, len(value) * 8 if is_bit else len(value))
        if start > end:
            return 0
        first, last = (start, end) if is_bit else (start * 8, end * 8 + 7)
    else:
        raise CommandError(SYNTAX)
    if first > last:
        return 0
    return sum(number.bit_count() for number, _, _ in _chunks(value, first, last))


@command(
    "bitpos",
    -3,
    (READONLY,),
    group=BITMAP,
    since="2.8.7",
    complexity="O(N)",
    summary="Find first bit set or clear in a string",
)
def bitpos_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BITPOS key bit [start [end [BYTE|BIT]]]"""
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    value = string_value(ctx, argv[1])
    if value is None:
        return -1 if bit else 0
    argc = len(argv)
    end_given = argc >= 5
    if argc == 3:
        first, last = 0, len(value) * 8 - 1
    elif argc <= 6:
        start = parse_int(argv[3])
        is_bit = argc == 6 and _unit_is_bit(argv[5])
        size = len(value) * 8 if is_bit else len(value)
        end = parse_int(argv[4]) if end_given else size - 1
        start, end = _resolve_range(start, end, size)
        if start > end:
            return -1
        first, last = (start, end) if is_bit else (start * 8, end * 8 + 7)
    else:
        raise CommandError(SYNTAX)
    if first > last:
        return -1
    for number, base, width in _chunks(value, first, last):
        if not bit:
            number ^= (1 << width) - 1
        if number:
            return base + width - number.bit_length()
    # no such bit in the range: a missing end means the string goes on with zeros after it
    return -1 if bit or end_given else len(value) * 8


_BITOPS: Final = {b"and": 0, b"or": 1, b"xor": 2, b"not": 3}


@command(
    "bitop",
    -4,
    (WRITE, DENYOOM),
    keys=(2, -1, 1),
    group=BITMAP,
    since="2.6.0",
    complexity="O(N)",
    summary="Perform bitwise operations between strings",
)
def bitop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BITOP AND|OR|XOR|NOT destkey key [key ...]"""
    op = _BITOPS.get(argv[1].lower())
    if op is None:
        raise CommandError(SYNTAX)
    if op == 3 and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    sources = [string_value(ctx, key) for key in argv[3:]]
    size = max((len(source) for source in sources if source is not None), default=0)
    dest = argv[2]
    if not size:
        if ctx.keyspace.delete(dest):
            ctx.propagate(argv, [dest])
        return 0
    numbers = [int.from_bytes(s, "big") << (8 * (size - len(s))) if s else 0 for s in sources]
    result = numbers[0]
    if op == 0:
        for number in numbers[1:]:
            result &= number
    elif op == 1:
        for number in numbers[1:]:
            result |= number
    elif op == 2:
        for number in numbers[1:]:
            result ^= number
    else:
        result ^= (1 << (8 * size)) - 1
    ctx.keyspace.set(dest, bytearray(result.to_bytes(size, "big")))  # a raw string, as Redis's
    ctx.propagate(argv, [dest])  # the sources are read, not changed
    return size


# --- BITFIELD ------------------------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2
_OPCODES: Final = {b"get": (_GET, 2), b"set": (_SET, 3), b"incrby": (_INCRBY, 3)}
_OVERFLOWS: Final = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}


def field_type(raw: bytes) -> tuple[bool, int]:
    """``i<bits>`` (1..64) or ``u<bits>`` (1..63): (signed, bits)."""
    signed = raw[:1] == b"i"
    if not signed and raw[:1] != b"u":
        raise CommandError(BAD_TYPE)
    bits = parse_int(raw[1:], BAD_TYPE, 1, 64 if signed else 63)
    return signed, bits


def get_field(value: bytes | bytearray | None, offset: int, bits: int) -> int:
    """The unsigned integer in bits offset..offset+bits-1 (zeros past the end of the string)."""
    if value is None:
        return 0
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    chunk = value[first : last + 1]
    width = (last - first + 1) * 8
    number = int.from_bytes(chunk, "big") << (8 * (last + 1 - first - len(chunk)))
    return (number >> (width - (offset & 7) - bits)) & ((1 << bits) - 1)


def set_field(value: bytearray, offset: int, bits: int, field: int) -> None:
    """Store the low ``bits`` bits of ``field`` at ``offset`` (the string already holds them)."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    width = (last - first + 1) * 8
    shift = width - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    number = int.from_bytes(value[first : last + 1], "big")
    number = (number & ~mask) | ((field << shift) & mask)
    value[first : last + 1] = number.to_bytes(last - first + 1, "big")


def overflowed(total: int, signed: bool, bits: int, mode: int) -> int | None:
    """``total`` (exact) stored in a field: wrapped or saturated, or None if it fails."""
    if signed:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << bits) - 1
    if low <= total <= high:
        return total
    if mode == _FAIL:
        return None
    if mode == _SAT:
        return high if total > high else low
    wrapped = total & ((1 << bits) - 1)
    if signed and wrapped > high:
        wrapped -= 1 << bits
    return wrapped


def _bitfield(ctx: Context, argv: list[bytes], readonly_command: bool) -> object:
    ops: list[tuple[int, bool, int, int, int, int]] = []  # opcode, signed, bits, offset, arg, mode
    mode = _WRAP
    highest = -1
    j = 2
    argc = len(argv)
    while j < argc:
        name = argv[j].lower()
        remaining = argc - j - 1
        if name == b"overflow" and remaining >= 1:
            found = _OVERFLOWS.get(argv[j + 1].lower())
            if found is None:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            mode = found
            j += 2
            continue
        opcode, needs = _OPCODES.get(name, (-1, 0))
        if opcode < 0 or remaining < needs:
            raise CommandError(SYNTAX)
        signed, bits = field_type(argv[j + 1])
        offset = bit_offset(ctx, argv[j + 2], bits)
        arg = 0
        if opcode != _GET:
            highest = max(highest, offset + bits - 1)
            arg = parse_int(argv[j + 3])
        ops.append((opcode, signed, bits, offset, arg, mode))
        j += needs + 1
    key = argv[1]
    if highest < 0:
        current = string_value(ctx, key)
        return [_read_field(current, signed, bits, offset) for _, signed, bits, offset, _, _ in ops]
    if readonly_command:
        raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
    value, changed = _grown(ctx, key, highest)
    replies: list[object] = []
    for opcode, signed, bits, offset, arg, op_mode in ops:
        if opcode == _GET:
            replies.append(_read_field(value, signed, bits, offset))
            continue
        raw = get_field(value, offset, bits)
        old = raw - (1 << bits) if signed and raw >> (bits - 1) else raw
        if opcode == _INCRBY:
            new = overflowed(old + arg, signed, bits, op_mode)
            reply = new
        else:
            # an unsigned SET reads the argument as Redis's uint64_t cast does
            new = overflowed(arg if signed or arg >= 0 else arg + (1 << 64), signed, bits, op_mode)
            reply = old
        if new is None:
            replies.append(None)
            continue
        replies.append(reply)
        if new != old:
            set_field(value, offset, bits, new)
            changed = True
    if changed:
        ctx.propagate(argv)
    return replies


def _read_field(value: bytes | bytearray | None, signed: bool, bits: int, offset: int) -> int:
    raw = get_field(value, offset, bits)
    return raw - (1 << bits) if signed and raw >> (bits - 1) else raw


@command(
    "bitfield",
    -2,
    (WRITE, DENYOOM),
    group=BITMAP,
    since="3.2.0",
    complexity="O(1) for each subcommand specified",
    summary="Perform arbitrary bitfield integer operations on strings",
)
def bitfield_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BITFIELD key [GET type offset | SET type offset value | INCRBY type offset increment
    | OVERFLOW WRAP|SAT|FAIL] ..."""
    return _bitfield(ctx, argv, False)


@command(
    "bitfield_ro",
    -2,
    (READONLY, FAST),
    group=BITMAP,
    since="6.0.0",
    complexity="O(1) for each subcommand specified",
    summary="Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
)
def bitfield_ro_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BITFIELD_RO key [GET type offset] ..."""
    return _bitfield(ctx, argv, True)


__all__ = ["BAD_OFFSET", "bit_offset", "get_field", "overflowed", "set_field"]
