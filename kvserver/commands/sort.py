"""SORT and SORT_RO: sort a list, set or sorted set, by itself or by other keys (sort.c's rules).

The order is Redis's: numeric by default (each element, or the value its BY pattern names,
read as strtod reads it; equal scores fall back to comparing the elements' bytes), ALPHA
compares bytes (the BY values', missing ones first), DESC reverses the whole comparison. A BY
pattern without ``*`` (``nosort``) keeps the native order: a list's, a sorted set's rank order
(with LIMIT taken straight from that range), a set's own order unless the result is stored,
when Redis sorts it ALPHA so that replicas agree.

``SORT ... STORE dst`` is logged canonically: ``DEL dst`` and the result as ``RPUSH`` records
(512 elements each), one unit, so replay depends neither on the BY/GET keys nor on the order a
set happens to iterate in. An empty result deletes ``dst`` (logged as ``DEL``).
"""

from __future__ import annotations

import math
import re
from collections import deque
from itertools import islice
from typing import Final

from kvserver.commands.args import parse_int
from kvserver.commands.dump import log_recreated
from kvserver.commands.registry import (
    DENYOOM,
    MOVABLEKEYS,
    READONLY,
    SYNTAX,
    WRITE,
    WRONGTYPE,
    CommandError,
    Context,
    command,
)
from kvserver.commands.sets import is_compact as is_intset
from kvserver.state import ClientState
from kvserver.zset import ZSet

GENERIC: Final = "generic"
NOT_DOUBLE: Final = "ERR One or more scores can't be converted into double"
_COMPLEXITY: Final = (
    "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of "
    "returned elements. When the elements are not sorted, complexity is O(N)."
)
_DBL_MIN: Final = 2.2250738585072014e-308
# what strtod accepts after its leading white space: a decimal or hex number, inf, infinity, nan
_DECIMAL: Final = re.compile(rb"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_HEX: Final = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?")
_PLAIN: Final = re.compile(rb"-?\d{1,300}(?:\.\d{0,300})?")
_SPECIAL: Final = re.compile(rb"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)


def strtod_score(raw: bytes) -> float | None:
    """``raw`` as Redis's SORT reads a weight: strtod over the whole string (C string: up to a
    NUL), leading white space allowed, nothing after the number; None where Redis reports an
    error (junk, NaN, overflow or underflow: ERANGE). An empty string is 0, as strtod gives."""
    if _PLAIN.fullmatch(raw):  # the common case: too few digits to overflow or underflow
        return float(raw)
    text = raw.split(b"\0", 1)[0].lstrip(b" \t\n\v\f\r")
    if not text:
        return 0.0
    for pattern in (_HEX, _DECIMAL, _SPECIAL):
        if pattern.fullmatch(text):
            break
    else:
        return None
    if pattern is _HEX:
        negative = text[:1] == b"-"
        body = text.lstrip(b"+-")
        try:
            value = float.fromhex(body.decode())
        except OverflowError:
            return None
        value = -value if negative else value
        mantissa = body[2:].split(b"p")[0].split(b"P")[0]
    else:
        value = float(text)
        if math.isnan(value):
            return None
        if pattern is _SPECIAL:
            return value
        mantissa = text.split(b"e")[0].split(b"E")[0]
    if math.isinf(value):
        return None  # ERANGE: the number overflows a double
    if value == 0.0 and mantissa.strip(b"+-.0xX"):
        return None  # ERANGE: a non-zero number underflowed to zero
    if 0.0 < abs(value) < _DBL_MIN:
        return None  # ERANGE: a subnormal result (glibc reports it)
    return value


def lookup_by_pattern(ctx: Context, pattern: bytes, element: bytes) -> bytes | None:
    """The value a BY or GET pattern names for ``element`` (sort.c's lookupKeyByPattern): ``#`` is
    the element itself; the first ``*`` is replaced by the element; ``key->field`` (a non-empty
    field after the ``*``) reads a hash field; a pattern without ``*`` names nothing."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field: bytes | None = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2 :]
        postfix = pattern[star + 1 : arrow]
    else:
        postfix = pattern[star + 1 :]
    value = ctx.keyspace.get(pattern[:star] + element + postfix)
    if value is None:
        return None
    if field is None:
        return bytes(value) if isinstance(value, bytes | bytearray) else None
    if isinstance(value, dict):
        found: bytes | None = value.get(field)
        return found
    return None


def sort_keys(argv: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS for SORT / SORT_RO (db.c's sortGetKeys): the key, then the last STORE's
    destination; BY and GET patterns and LIMIT's numbers are skipped, not keys."""
    keys = [argv[1]]
    store: bytes | None = None
    skip = {b"LIMIT": 2, b"GET": 1, b"BY": 1}
    i = 2
    while i < len(argv):
        word = argv[i].upper()
        if word in skip:
            i += skip[word]
        elif word == b"STORE" and i + 1 < len(argv):
            store = argv[i + 1]
        i += 1
    return keys if store is None else [*keys, store]


class _Options:
    __slots__ = ("alpha", "by", "count", "desc", "dontsort", "gets", "offset", "store")

    def __init__(self) -> None:
        self.desc = False
        self.alpha = False
        self.offset = 0
        self.count = -1
        self.store: bytes | None = None
        self.by: bytes | None = None
        self.dontsort = False
        self.gets: list[bytes] = []


def _parse(argv: list[bytes], readonly: bool) -> _Options:
    options = _Options()
    j = 2
    argc = len(argv)
    while j < argc:
        word = argv[j].upper()
        left = argc - j - 1
        if word == b"ASC":
            options.desc = False
        elif word == b"DESC":
            options.desc = True
        elif word == b"ALPHA":
            options.alpha = True
        elif word == b"LIMIT" and left >= 2:
            options.offset = parse_int(argv[j + 1])
            options.count = parse_int(argv[j + 2])
            j += 2
        elif word == b"STORE" and left >= 1 and not readonly:
            options.store = argv[j + 1]
            j += 1
        elif word == b"BY" and left >= 1:
            options.by = argv[j + 1]
            options.dontsort = b"*" not in options.by
            j += 1
        elif word == b"GET" and left >= 1:
            options.gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return options


def _window(options: _Options, length: int) -> tuple[int, int]:
    """LIMIT as sort.c clamps it: the (start, end) positions of the output, inclusive."""
    start = min(max(options.offset, 0), length)
    count = min(max(options.count, -1), length)
    end = length - 1 if count < 0 else start + count - 1
    if start >= length:
        start, end = length - 1, length - 2
    return start, min(end, length - 1)


def _native(value: object) -> list[bytes]:
    """The elements in the value's own order."""
    if isinstance(value, deque):
        return list(value)
    if isinstance(value, ZSet):
        return [member for _, member in value]
    assert isinstance(value, set)
    return sorted(value, key=int) if is_intset(value) else list(value)


def _native_window(value: deque[bytes] | ZSet, desc: bool, start: int, end: int) -> list[bytes]:
    """Positions ``start`` to ``end`` of a list's or sorted set's own order (DESC: from the end),
    reached without copying the rest: O(log n + m) for a sorted set, as Redis's rank lookup."""
    if end < start:
        return []
    if isinstance(value, deque):
        return list(islice(reversed(value) if desc else iter(value), start, end + 1))
    index, n = value.index, len(value)
    pairs = index.islice(n - 1 - end, n - start, reverse=True) if desc else index.islice(start, end + 1)
    return [member for _, member in pairs]


def _sorted(ctx: Context, elements: list[bytes], options: _Options) -> list[bytes]:
    by = options.by
    if options.alpha:
        if by is None:
            return sorted(elements, reverse=options.desc)
        weights = [lookup_by_pattern(ctx, by, element) for element in elements]
        order = sorted(
            range(len(elements)),
            key=lambda i: (weights[i] is not None, weights[i] or b""),
            reverse=options.desc,
        )
        return [elements[i] for i in order]
    scores: list[float] = []
    for element in elements:
        raw = element if by is None else lookup_by_pattern(ctx, by, element)
        score = 0.0 if raw is None else strtod_score(raw)
        if score is None:
            raise CommandError(NOT_DOUBLE)
        scores.append(score)
    # by element, then (stable) by score: equal scores stay in element order, as sortCompare's
    # tie-break puts them; two sorts on plain keys beat one on (score, element) tuples
    order = sorted(range(len(elements)), key=elements.__getitem__, reverse=options.desc)
    order.sort(key=scores.__getitem__, reverse=options.desc)
    return [elements[i] for i in order]


def sort_generic(ctx: Context, argv: list[bytes], readonly: bool, script: bool = False) -> object:
    options = _parse(argv, readonly)
    value = ctx.keyspace.get(argv[1])
    if value is not None and not isinstance(value, deque | set | ZSet):
        raise CommandError(WRONGTYPE)
    if value is None:
        value = deque()
    if options.dontsort and isinstance(value, set) and (options.store is not None or script):
        options.dontsort, options.alpha, options.by = False, True, None  # replicas must agree
    length = len(value)
    start, end = _window(options, length)
    if options.dontsort and not isinstance(value, set):
        chosen = _native_window(value, options.desc, start, end)
    else:
        elements = _native(value)
        if not options.dontsort:
            elements = _sorted(ctx, elements, options)
        chosen = elements[start : end + 1] if end >= start else []
    if not options.gets:
        output: list[bytes | None] = list(chosen)
    else:
        output = [lookup_by_pattern(ctx, pattern, element) for element in chosen for pattern in options.gets]
    if options.store is None:
        return output
    return _store(ctx, options.store, [b"" if item is None else item for item in output])


def _store(ctx: Context, dest: bytes, result: list[bytes]) -> int:
    keyspace = ctx.keyspace
    if not result:
        if keyspace.delete(dest):
            ctx.propagate([b"DEL", dest], [])
            keyspace.changed("sort", dest)
        return 0
    value = deque(result)
    keyspace.set(dest, value)
    log_recreated(ctx, dest, value, True, "sort")  # DEL first: whatever dest held goes, TTL too
    return len(result)


@command(
    "sort",
    -2,
    (WRITE, DENYOOM, MOVABLEKEYS),
    find_keys=sort_keys,
    group=GENERIC,
    complexity=_COMPLEXITY,
    summary="Sort the elements in a list, set or sorted set",
)
def sort_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]"""
    return sort_generic(ctx, argv, readonly=False, script=client.script)


@command(
    "sort_ro",
    -2,
    (READONLY, MOVABLEKEYS),
    find_keys=sort_keys,
    group=GENERIC,
    since="7.0.0",
    complexity=_COMPLEXITY,
    summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
)
def sort_ro_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]"""
    return sort_generic(ctx, argv, readonly=True, script=client.script)
