"""String commands. SET's variants (SETNX, SETEX, PSETEX, GETSET) are thin calls into ``set_generic``.

A string is ``bytes``, or a ``bytearray`` once APPEND or SETRANGE changed it (Redis's "raw"
encoding): those two then edit it in place, amortised O(size of the change) instead of a copy
of the whole value per call. Readers hand clients ``bytes`` copies, never the mutable value
(a reply may be encoded after later commands of the same EXEC ran).

Every write propagates its canonical form: SET with an absolute PXAT (or KEEPTTL), PEXPIREAT for
GETEX, and SET ... KEEPTTL with the computed result for INCRBYFLOAT.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Final

from kvserver import longdouble
from kvserver.commands.args import INT64_MAX, INT64_MIN, Flag, int64_or_none, parse_flags, parse_int
from kvserver.commands.registry import (
    DENYOOM,
    FAST,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    READONLY,
    SYNTAX,
    WRITE,
    WRONGTYPE,
    CommandError,
    Context,
    arity_error,
    command,
)
from kvserver.keyspace import ValueType, register_type
from kvserver.longdouble import LongDouble
from kvserver.protocol import OK
from kvserver.state import ClientState

STRING: Final = "string"
MAX_STRING: Final = 512 * 1024 * 1024

_NX, _XX, _GET, _KEEPTTL, _PERSIST = 1, 2, 4, 8, 16
_EX, _PX, _EXAT, _PXAT = 32, 64, 128, 256
_ANY_EXPIRE: Final = _EX | _PX | _EXAT | _PXAT
_EXPIRE_OPTIONS: Final = {b"EX": _EX, b"PX": _PX, b"EXAT": _EXAT, b"PXAT": _PXAT}


def string_encoding(value: bytes) -> bytes:
    if len(value) <= 20:
        if int64_or_none(value) is not None:
            return b"int"
    return b"embstr" if len(value) <= 44 else b"raw"


register_type(
    bytes,
    ValueType(
        "string",
        copy=lambda value: value,
        dump=lambda key, value: [[b"SET", key, value]],
        encoding=string_encoding,
    ),
)
register_type(
    bytearray,
    ValueType(
        "string",
        copy=bytearray,
        dump=lambda key, value: [[b"SET", key, bytes(value)]],
        encoding=lambda value: b"raw",
    ),
)


def get_string(ctx: Context, key: bytes) -> bytes | None:
    """The string at ``key`` (as bytes), None if missing; WRONGTYPE if it holds another type."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytes(value)
    raise CommandError(WRONGTYPE)


def string_value(ctx: Context, key: bytes) -> bytes | bytearray | None:
    """The stored string itself, without a copy (for STRLEN, GETRANGE, APPEND, SETRANGE)."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is bytes or type(value) is bytearray:
        return value
    raise CommandError(WRONGTYPE)


_EXPIRY_EXCLUDES: Final = _KEEPTTL | _PERSIST
# the same expiry option may repeat (the last wins); a different one may not
_EXPIRY: Final = {
    name: Flag(bit, excludes=_EXPIRY_EXCLUDES | (_ANY_EXPIRE & ~bit), takes_value=True)
    for name, bit in _EXPIRE_OPTIONS.items()
}
SET_OPTIONS: Final = {
    b"NX": Flag(_NX, excludes=_XX),
    b"XX": Flag(_XX, excludes=_NX),
    b"GET": Flag(_GET),
    b"KEEPTTL": Flag(_KEEPTTL, excludes=_PERSIST | _ANY_EXPIRE),
    **_EXPIRY,
}
GETEX_OPTIONS: Final = {b"PERSIST": Flag(_PERSIST, excludes=_ANY_EXPIRE | _KEEPTTL), **_EXPIRY}


def expire_deadline(ctx: Context, raw: bytes, flags: int, name: str) -> int:
    """Turn an EX/PX/EXAT/PXAT argument into an absolute deadline in ms, as Redis validates it."""
    value = parse_int(raw)
    seconds = flags & (_EX | _EXAT)
    if value <= 0 or (seconds and value > INT64_MAX // 1000):
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    if seconds:
        value *= 1000
    if flags & (_EX | _PX):
        value += ctx.keyspace.clock()
        if value > INT64_MAX:
            raise CommandError(f"ERR invalid expire time in '{name}' command")
    return value


def set_generic(
    ctx: Context,
    key: bytes,
    value: bytes,
    flags: int,
    expire: bytes | None,
    name: str,
    ok_reply: object = OK,
    abort_reply: object = None,
) -> object:
    deadline = expire_deadline(ctx, expire, flags, name) if expire is not None else None
    ks = ctx.keyspace
    old: bytes | None = None
    if flags & _GET:
        old = get_string(ctx, key)
        found = old is not None
    else:
        found = ks.get(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        return old if flags & _GET else abort_reply
    if flags & _KEEPTTL:
        ks.set_keep_ttl(key, value)
        ctx.propagate([b"SET", key, value, b"KEEPTTL"] if ks.deadline(key) is not None else [b"SET", key, value])
    else:
        ks.set(key, value, deadline)
        if deadline is None:
            ctx.propagate([b"SET", key, value])
        else:
            ctx.propagate([b"SET", key, value, b"PXAT", b"%d" % deadline])
    return old if flags & _GET else ok_reply


@command(
    "set",
    -3,
    (WRITE, DENYOOM),
    group=STRING,
    complexity="O(1)",
    summary="Set the string value of a key",
)
def set_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SET key value [NX|XX] [GET] [EX seconds|PX ms|EXAT unix-s|PXAT unix-ms|KEEPTTL]"""
    if len(argv) == 3:  # the common case: no options
        key = argv[1]
        ctx.keyspace.set(key, argv[2])
        ctx.propagate(argv)
        return OK
    flags, expire = parse_flags(argv, 3, SET_OPTIONS)
    return set_generic(ctx, argv[1], argv[2], flags, expire, "set")


@command(
    "setnx", 3, (WRITE, DENYOOM, FAST), group=STRING, summary="Set the value of a key, only if the key does not exist"
)
def setnx_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return set_generic(ctx, argv[1], argv[2], _NX, None, "setnx", 1, 0)


@command("setex", 4, (WRITE, DENYOOM), group=STRING, since="2.0.0", summary="Set the value and expiration of a key")
def setex_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return set_generic(ctx, argv[1], argv[3], _EX, argv[2], "setex")


@command(
    "psetex",
    4,
    (WRITE, DENYOOM),
    group=STRING,
    since="2.6.0",
    summary="Set the value and expiration in milliseconds of a key",
)
def psetex_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return set_generic(ctx, argv[1], argv[3], _PX, argv[2], "psetex")


@command(
    "getset", 3, (WRITE, DENYOOM, FAST), group=STRING, summary="Set the string value of a key and return its old value"
)
def getset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return set_generic(ctx, argv[1], argv[2], _GET, None, "getset")


@command("get", 2, (READONLY, FAST), group=STRING, summary="Get the value of a key")
def get_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = ctx.keyspace.get(argv[1])
    if type(value) is bytes:
        ctx.stats.keyspace_hits += 1
        return value
    if value is None:
        ctx.stats.keyspace_misses += 1
        return None
    if type(value) is bytearray:
        ctx.stats.keyspace_hits += 1
        return bytes(value)
    raise CommandError(WRONGTYPE)


@command("getdel", 2, (WRITE, FAST), group=STRING, since="6.2.0", summary="Get the value of a key and delete the key")
def getdel_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = get_string(ctx, argv[1])
    if value is not None:
        ctx.keyspace.delete(argv[1])
        ctx.propagate([b"DEL", argv[1]])
    return value


@command(
    "getex",
    -2,
    (WRITE, FAST),
    group=STRING,
    since="6.2.0",
    summary="Get the value of a key and optionally set its expiration",
)
def getex_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """GETEX key [EX seconds|PX ms|EXAT unix-s|PXAT unix-ms|PERSIST]"""
    flags, expire = parse_flags(argv, 2, GETEX_OPTIONS)
    key = argv[1]
    value = get_string(ctx, key)
    if value is None:
        return None
    ks = ctx.keyspace
    if expire is not None:
        deadline = expire_deadline(ctx, expire, flags, "getex")
        if flags & (_EXAT | _PXAT) and deadline <= ks.clock():
            ks.delete(key)
            ctx.propagate([b"DEL", key])
        else:
            ks.set_deadline(key, deadline)
            ctx.propagate([b"PEXPIREAT", key, b"%d" % deadline])
    elif flags & _PERSIST and ks.deadline(key) is not None:
        ks.set_deadline(key, None)
        ctx.propagate([b"PERSIST", key])
    return value


@command(
    "mget",
    -2,
    (READONLY, FAST),
    keys=(1, -1, 1),
    group=STRING,
    complexity="O(N) where N is the number of keys to retrieve.",
    summary="Get the values of all the given keys",
)
def mget_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    get = ctx.keyspace.get
    out: list[object] = []
    for key in argv[1:]:
        value = get(key)
        out.append(value if type(value) is bytes else bytes(value) if type(value) is bytearray else None)
    return out


@command(
    "mset",
    -3,
    (WRITE, DENYOOM),
    keys=(1, -1, 2),
    group=STRING,
    since="1.0.1",
    complexity="O(N) where N is the number of keys to set.",
    summary="Set multiple keys to multiple values",
)
def mset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) % 2 == 0:
        raise arity_error("mset")
    store = ctx.keyspace.set
    for i in range(1, len(argv), 2):
        store(argv[i], argv[i + 1])
    ctx.propagate(argv)
    return OK


@command(
    "msetnx",
    -3,
    (WRITE, DENYOOM),
    keys=(1, -1, 2),
    group=STRING,
    since="1.0.1",
    complexity="O(N) where N is the number of keys to set.",
    summary="Set multiple keys to multiple values, only if none of the keys exist",
)
def msetnx_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) % 2 == 0:
        raise arity_error("msetnx")
    ks = ctx.keyspace
    if any(ks.get(argv[i]) is not None for i in range(1, len(argv), 2)):
        return 0
    for i in range(1, len(argv), 2):
        ks.set(argv[i], argv[i + 1])
    ctx.propagate([b"MSET", *argv[1:]])
    return 1


def incr_generic(ctx: Context, argv: list[bytes], delta: int) -> int:
    key = argv[1]
    current = get_string(ctx, key)
    value = 0 if current is None else parse_int(current)
    result = value + delta
    if not INT64_MIN <= result <= INT64_MAX:
        raise CommandError(OVERFLOW)
    if current is None:
        ctx.keyspace.set(key, b"%d" % result)
    else:
        ctx.keyspace.set_keep_ttl(key, b"%d" % result)
    ctx.propagate(argv)
    return result


@command("incr", 2, (WRITE, DENYOOM, FAST), group=STRING, summary="Increment the integer value of a key by one")
def incr_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return incr_generic(ctx, argv, 1)


@command("decr", 2, (WRITE, DENYOOM, FAST), group=STRING, summary="Decrement the integer value of a key by one")
def decr_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return incr_generic(ctx, argv, -1)


@command(
    "incrby",
    3,
    (WRITE, DENYOOM, FAST),
    group=STRING,
    summary="Increment the integer value of a key by the given amount",
)
def incrby_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return incr_generic(ctx, argv, parse_int(argv[2]))


@command(
    "decrby",
    3,
    (WRITE, DENYOOM, FAST),
    group=STRING,
    summary="Decrement the integer value of a key by the given number",
)
def decrby_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    delta = parse_int(argv[2])
    if delta == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return incr_generic(ctx, argv, -delta)


def parse_long_double(raw: bytes, error: str = NOT_FLOAT) -> LongDouble:
    """A number as Redis's strtold-based string2ld accepts it, as an exact long double."""
    value = longdouble.parse(raw)
    if value is None:
        raise CommandError(error)
    return value


def add_long_double(value: LongDouble | Decimal, delta: LongDouble) -> bytes:
    """INCRBYFLOAT's arithmetic (shared with HINCRBYFLOAT): the long double sum, as Redis prints it."""
    total = longdouble.add(Fraction(value) if isinstance(value, Decimal) else value, delta)
    if total is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    return longdouble.format_human(total)


@command(
    "incrbyfloat",
    3,
    (WRITE, DENYOOM, FAST),
    group=STRING,
    since="2.6.0",
    summary="Increment the float value of a key by the given amount",
)
def incrbyfloat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    current = get_string(ctx, key)
    value = Fraction(0) if current is None else parse_long_double(current)
    encoded = add_long_double(value, parse_long_double(argv[2]))
    ks = ctx.keyspace
    if current is None:
        ks.set(key, encoded)
    else:
        ks.set_keep_ttl(key, encoded)
    # the text result, not the increment, is logged: replay must not redo the float arithmetic
    ctx.propagate([b"SET", key, encoded, b"KEEPTTL"])
    return encoded


@command("append", 3, (WRITE, DENYOOM, FAST), group=STRING, since="2.0.0", summary="Append a value to a key")
def append_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    current = string_value(ctx, key)
    if current is None:
        ctx.keyspace.set(key, argv[2])
        size = len(argv[2])
    else:
        if len(current) + len(argv[2]) > MAX_STRING:
            raise CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        value = mutable_string(ctx, key, current)
        value += argv[2]  # amortised O(len(argv[2])): a bytearray over-allocates as it grows
        size = len(value)
    ctx.propagate(argv)
    return size


def mutable_string(ctx: Context, key: bytes, current: bytes | bytearray) -> bytearray:
    """The value of ``key`` as a bytearray to edit in place (converted once, keeping the TTL)."""
    if type(current) is bytearray:
        return current
    value = bytearray(current)
    ctx.keyspace.set_keep_ttl(key, value)
    return value


@command(
    "strlen", 2, (READONLY, FAST), group=STRING, since="2.2.0", summary="Get the length of the value stored in a key"
)
def strlen_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = string_value(ctx, argv[1])
    return 0 if value is None else len(value)


def _getrange(ctx: Context, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = string_value(ctx, argv[1])
    if value is None:
        return b""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    if start > end or size == 0:
        return b""
    return bytes(memoryview(value)[start : end + 1])


@command(
    "getrange",
    4,
    (READONLY,),
    group=STRING,
    since="2.4.0",
    complexity="O(N) where N is the length of the returned string.",
    summary="Get a substring of the string stored at a key",
)
def getrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _getrange(ctx, argv)


@command(
    "substr",
    4,
    (READONLY,),
    group=STRING,
    complexity="O(N) where N is the length of the returned string.",
    summary="Get a substring of the string stored at a key (deprecated alias of GETRANGE)",
)
def substr_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _getrange(ctx, argv)


@command(
    "setrange",
    4,
    (WRITE, DENYOOM),
    group=STRING,
    since="2.2.0",
    summary="Overwrite part of a string at key starting at the specified offset",
)
def setrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    offset = parse_int(argv[2])
    patch = argv[3]
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    current = string_value(ctx, key)
    if not patch:
        return 0 if current is None else len(current)
    if offset + len(patch) > MAX_STRING:
        raise CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    if current is None:
        value = bytearray(offset)  # Redis creates a raw string, zero-padded
        ctx.keyspace.set(key, value)
    else:
        value = mutable_string(ctx, key, current)
    if len(value) < offset:
        value.extend(bytes(offset - len(value)))
    value[offset : offset + len(patch)] = patch  # O(len(patch)) in place, growing at the end
    ctx.propagate(argv)
    return len(value)


# --- LCS ---------------------------------------------------------------------------------------
# Redis fills the (len(a)+1) x (len(b)+1) table of LCS lengths cell by cell and walks it back from
# the end. Here each row of that table is one Python integer (the bit-parallel algorithm of
# Allison-Dix / Hyyrö: bit k clear in row i marks LCS(i, k+1) = LCS(i, k) + 1), computed with a
# few big-integer operations per byte of the shorter string: 1/32 of Redis's memory and C speed
# for the table. The walk back is Redis's, step by step (the same ties, so the same string and
# ranges), each cell a popcount of a row's prefix; it stops once nothing is left to match.


class _LcsTable:
    """LCS(i, j) of a[:i] and b[:j], for every i <= len(a), j <= len(b)."""

    __slots__ = ("by_a", "masks", "rows")

    def __init__(self, a: bytes, b: bytes) -> None:
        self.by_a = len(a) <= len(b)  # one row per byte of the shorter string
        rows_of, bits_of = (a, b) if self.by_a else (b, a)
        width = len(bits_of)
        full = (1 << width) - 1
        self.masks: dict[int, int] = {}
        for byte in set(rows_of):  # where each byte of the rows is in the other string (bit k: bits_of[k])
            marks = bits_of.translate(bytes(49 if c == byte else 48 for c in range(256)))
            self.masks[byte] = int(marks[::-1], 2)
        row = full
        rows = [row]
        for byte in rows_of:
            match = row & self.masks.get(byte, 0)
            row = ((row + match) | (row - match)) & full
            rows.append(row)
        self.rows = rows

    def __call__(self, i: int, j: int) -> int:
        row, bits = (self.rows[i], j) if self.by_a else (self.rows[j], i)
        return bits - (row & ((1 << bits) - 1)).bit_count()

    def run(self, row: int, byte: int, bits: int) -> int:
        """Where a walk along a row stops: below ``bits``, the highest position that is either
        ``byte`` (a match) or where the row's LCS grows (bit clear), plus one; 0 if none."""
        mask = (1 << bits) - 1
        stop = mask & ~(self.rows[row] & ~self.masks.get(byte, 0))
        return stop.bit_length()


def _lcs_walk(
    a: bytes, b: bytes, table: _LcsTable, min_match: int, with_ranges: bool
) -> tuple[bytes, list[tuple[int, int, int, int, int]]]:
    """Redis's walk back from (len(a), len(b)): the LCS string and the ranges of the matches
    (a_start, a_end, b_start, b_end, length), from the end, of at least ``min_match``.

    After a step along the bits of a row, the steps Redis would take next along the same row
    with the same LCS (no match, the row's LCS not growing: a tie, or the other way strictly
    smaller) are skipped at once: so the walk costs O(rows + LCS) steps, not len(a) + len(b)."""
    i, j = len(a), len(b)
    current = table(i, j)
    out = bytearray(current)
    write = current
    ranges: list[tuple[int, int, int, int, int]] = []
    unset = len(a)  # a_start's value while no range is open (Redis's)
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out[write - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            write -= 1
            i -= 1
            j -= 1
            current -= 1
        else:
            up, left = table(i - 1, j), table(i, j - 1)
            if up > left:
                i -= 1
                current = up
                if not table.by_a and i > 0:  # along b's row j: skip the same steps
                    i = table.run(j, b[j - 1], i)
            else:
                j -= 1
                current = left
                if table.by_a and j > 0:  # along a's row i
                    j = table.run(i, a[i - 1], j)
            if a_start != unset:
                emit = True
        if emit:
            length = a_end - a_start + 1
            if with_ranges and (min_match == 0 or length >= min_match):
                ranges.append((a_start, a_end, b_start, b_end, length))
            a_start = unset
        if current == 0 and a_start == unset:
            break  # nothing left to match or to emit
    return bytes(out), ranges


def _lcs_operand(ctx: Context, key: bytes) -> bytes:
    value = ctx.keyspace.get(key)
    if value is None:
        return b""
    if type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytes(value)
    raise CommandError("ERR The specified keys must contain string values")


@command(
    "lcs",
    -3,
    (READONLY,),
    keys=(1, 2, 1),
    group=STRING,
    since="7.0.0",
    complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively",
    summary="Find longest common substring",
)
def lcs_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"""
    a, b = _lcs_operand(ctx, argv[1]), _lcs_operand(ctx, argv[2])
    get_len = get_idx = with_match_len = False
    min_match = 0
    j = 3
    while j < len(argv):
        option = argv[j].upper()
        if option == b"IDX":
            get_idx = True
        elif option == b"LEN":
            get_len = True
        elif option == b"WITHMATCHLEN":
            with_match_len = True
        elif option == b"MINMATCHLEN" and j + 1 < len(argv):
            min_match = max(parse_int(argv[j + 1]), 0)
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    if get_len and get_idx:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    if (len(a) + 1) * (len(b) + 1) * 4 > ctx.config.proto_max_bulk_len:  # Redis's table: 4 bytes a cell
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    table = _LcsTable(a, b)
    if get_len:
        return table(len(a), len(b))
    text, ranges = _lcs_walk(a, b, table, min_match, get_idx)
    if not get_idx:
        return text
    matches: list[object] = []
    for a_start, a_end, b_start, b_end, length in ranges:
        match: list[object] = [[a_start, a_end], [b_start, b_end]]
        if with_match_len:
            match.append(length)
        matches.append(match)
    return {b"matches": matches, b"len": len(text)}


__all__ = ["NOT_INTEGER", "get_string", "mutable_string", "set_generic", "string_value"]
