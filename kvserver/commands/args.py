"""Argument conversion for the common shapes, with Redis's exact error texts.

- ``parse_int``: the one integer parser (Redis's string2ll), with an optional range;
- ``parse_float``, ``parse_timeout``: doubles, and blocking commands' timeouts;
- ``parse_flags`` / ``leading_flags``: options that are single words, from a table of ``Flag``
  (SET, GETEX, ZADD); ``keyword_options``: ``NAME value`` pairs in any order (SCAN, LPOS...).

Handlers call these where they read an argument; nothing here runs unless a handler asks, and
none of them allocates on a command's plain form (``SET key value``, ``GET key``). Grammars that
are irregular (ZRANGE's LIMIT and BY*, SORT...) keep their own loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from kvserver.commands.registry import NOT_FLOAT, NOT_INTEGER, SYNTAX, CommandError

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# getPositiveLongFromObjectOrReply's text, for a bad integer and for a negative one
MUST_BE_POSITIVE: Final = "ERR value is out of range, must be positive"
OUT_OF_RANGE: Final = "ERR value is out of range"


def range_error(low: int, high: int) -> str:
    """getRangeLongFromObjectOrReply's text for a value outside [low, high] (Redis's spelling)."""
    return f"{OUT_OF_RANGE}, value must between {low} and {high}"


def int64_or_none(raw: bytes) -> int | None:
    """``raw`` as a signed 64-bit integer if Redis's string2ll accepts it (no sign on 0, no
    leading zeros, no spaces or '+'), else None. The length is checked before ``int``, whose
    cost grows with the square of the digits; 18 digits or fewer are inside the range without
    comparing (the bounds don't fit a compiled module's small integers: a slow comparison)."""
    size = len(raw)
    if raw.isdigit():
        if size > 19 or (raw[0] == 48 and size > 1):
            return None
        value = int(raw)
        if size < 19:
            return value
    else:
        digits = raw[1:] if raw[:1] == b"-" else b""
        if not digits.isdigit() or digits[0] == 48 or size > 20:
            return None
        value = int(raw)
        if size < 20:
            return value
    return value if INT64_MIN <= value <= INT64_MAX else None


def parse_int(
    raw: bytes,
    error: str = NOT_INTEGER,
    low: int | None = None,
    high: int | None = None,
    out_of_range: str | None = None,
) -> int:
    """A signed 64-bit integer (``int64_or_none``) in [low, high] (None: the type's own bound).
    ``error`` is the reply to anything else, and to a value out of the range unless
    ``out_of_range`` is given."""
    value = int64_or_none(raw)
    if value is None:
        raise CommandError(error)
    if (low is not None and value < low) or (high is not None and value > high):
        raise CommandError(error if out_of_range is None else out_of_range)
    return value


def parse_float(raw: bytes, error: str = NOT_FLOAT) -> float:
    """A double as Redis's strtod-based parsing accepts it (inf allowed, nan and spaces not).

    ``float`` also takes "nan" in any spelling (told by the value it gives), "_" between digits
    (95) and spaces around the number. (``95 in raw`` is a memchr; a bytes operand, as in
    ``b"_" in raw``, costs a raised and cleared TypeError first.)"""
    if not raw or raw[:1].isspace() or raw[-1:].isspace() or 95 in raw:
        raise CommandError(error)
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(error) from None
    if value != value:  # nan
        raise CommandError(error)
    return value


def parse_timeout(raw: bytes) -> float:
    """A blocking command's timeout in seconds, as Redis validates it (0: wait forever)."""
    value = parse_float(raw, "ERR timeout is not a float or out of range")
    # Redis 7.0 converts a huge timeout to a negative integer, and says so
    if value < 0 or value * 1000 > INT64_MAX:
        raise CommandError("ERR timeout is negative")
    return value


@dataclass(frozen=True, slots=True)
class Flag:
    """A one-word option (matched case-insensitively) that sets ``bit``.

    ``excludes``: bits that make it a syntax error when one is already set (SET's NX after XX;
    the same flag may repeat unless it excludes itself). ``takes_value``: it is followed by
    one argument (SET's EX seconds), the value ``parse_flags`` returns.
    """

    bit: int
    excludes: int = 0
    takes_value: bool = False


def parse_flags(argv: list[bytes], start: int, table: Mapping[bytes, Flag]) -> tuple[int, bytes | None]:
    """Every argument from ``start`` on is an option of ``table``, in any order: the bits set and
    the value of the last option that takes one. Anything else: "ERR syntax error"."""
    flags = 0
    value: bytes | None = None
    j = start
    argc = len(argv)
    while j < argc:
        flag = table.get(argv[j].upper())
        if flag is None or flags & flag.excludes:
            raise CommandError(SYNTAX)
        if flag.takes_value:
            j += 1
            if j == argc:
                raise CommandError(SYNTAX)
            value = argv[j]
        flags |= flag.bit
        j += 1
    return flags, value


def leading_flags(argv: list[bytes], start: int, table: Mapping[bytes, int]) -> tuple[int, int]:
    """Options of ``table`` (word -> bit) from ``start`` up to the first argument that is not one
    (ZADD's NX|XX|GT|LT|CH|INCR before its pairs): the bits set and that argument's index."""
    flags = 0
    j = start
    argc = len(argv)
    while j < argc:
        bit = table.get(argv[j].upper())
        if bit is None:
            break
        flags |= bit
        j += 1
    return flags, j


def keyword_options(argv: list[bytes], start: int, names: tuple[bytes, ...]) -> Iterator[tuple[bytes, bytes]]:
    """``NAME value`` pairs from ``start`` on, in any order: yields (upper-case name, value).

    Lazily, as Redis's loops: a value is converted (and may fail) before the next name is
    checked. An unknown name, or one without a value: "ERR syntax error".
    """
    argc = len(argv)
    for j in range(start, argc, 2):
        name = argv[j].upper()
        if name not in names or j + 1 == argc:
            raise CommandError(SYNTAX)
        yield name, argv[j + 1]
