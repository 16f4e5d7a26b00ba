"""What the container types (hash, set, sorted set, list) share: scans, random picks, cleanup."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from kvserver.commands.keys import parse_cursor, parse_scan_options
from kvserver.commands.registry import NOT_INTEGER, CommandError, Context, parse_int
from kvserver.glob import compile_glob

T = TypeVar("T")

INT64_MAX: Final = 2**63 - 1
OUT_OF_RANGE: Final = "ERR value is out of range"
MUST_BE_POSITIVE: Final = "ERR value is out of range, must be positive"


def drop_if_empty(ctx: Context, key: bytes, value: object) -> None:
    """Empty containers don't exist in Redis: remove the key once its last element is gone."""
    if not value:  # every container is falsy when empty
        ctx.keyspace.delete(key)


def scan_container(
    ctx: Context,
    argv: list[bytes],
    container: object,
    compact: bool,
    members: Callable[[], list[object]],
    emit: Callable[[bytes, list[object]], None],
) -> list[object]:
    """HSCAN / SSCAN / ZSCAN: key cursor [MATCH pattern] [COUNT count].

    A compact container (one Redis keeps as a listpack or intset) is returned whole with cursor
    0, as Redis does; a larger one is walked in COUNT-sized batches from a snapshot of its
    members. ``emit`` appends a member's reply items (skipping one removed since the snapshot).
    """
    cursor = parse_cursor(argv[2])
    count, pattern, _ = parse_scan_options(argv, 3, allow_type=False)
    items: list[object]
    if container is None:
        return [b"0", []]
    if compact:
        next_cursor, items = 0, members()
    else:
        next_cursor, items = ctx.keyspace.cursors.scan(container, cursor, count, members)
    match = compile_glob(pattern).fullmatch if pattern is not None and pattern != b"*" else None
    out: list[object] = []
    for member in items:
        assert isinstance(member, bytes)
        if match is None or match(member) is not None:
            emit(member, out)
    return [b"%d" % next_cursor, out]


def rank_span(length: int, start: int, stop: int) -> tuple[int, int]:
    """Redis's index arithmetic (LRANGE, LTRIM, ZRANGE): negative counts from the end; [first, end)."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return 0, 0
    return start, min(stop, length - 1) + 1


def parse_pop_count(raw: bytes) -> int:
    """The count of SPOP / LPOP / ZPOPMIN...: 0 or more."""
    count = parse_int(raw, MUST_BE_POSITIVE)
    if count < 0:
        raise CommandError(MUST_BE_POSITIVE)
    return count


def parse_random_count(raw: bytes, with_values: bool) -> int:
    """The count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER, with Redis's range checks."""
    count = parse_int(raw, NOT_INTEGER)
    if count < -INT64_MAX:
        raise CommandError(f"{OUT_OF_RANGE}, value must between {-INT64_MAX} and {INT64_MAX}")
    if with_values and count < -(INT64_MAX // 2):
        raise CommandError(OUT_OF_RANGE)
    return count


def random_pick(population: Sequence[T], count: int) -> list[T]:
    """``count`` > 0: that many distinct items at most; ``count`` < 0: exactly -count, with repeats."""
    if count >= 0:
        return random.sample(population, min(count, len(population)))
    return random.choices(population, k=-count)


def pairs(items: list[tuple[bytes, object]], resp3: bool) -> list[object]:
    """A reply of pairs: nested [[a, b], ...] in RESP3, flat [a, b, ...] in RESP2 (as Redis does)."""
    if resp3:
        return [list(item) for item in items]
    flat: list[object] = []
    for first, second in items:
        flat += (first, second)
    return flat
