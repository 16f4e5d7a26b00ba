"""What the container types (hash, set, sorted set, list) share: scans, random picks, cleanup."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final, TypeVar

from kvserver.commands.keys import parse_cursor, parse_scan_options
from kvserver.commands.registry import (
    NOT_INTEGER,
    READONLY,
    SYNTAX,
    Block,
    CommandError,
    Context,
    command,
    parse_int,
    parse_timeout,
    typed_value,
)
from kvserver.glob import compile_glob
from kvserver.protocol import NullArray, encode_reply
from kvserver.state import ClientState

T = TypeVar("T")

INT64_MAX: Final = 2**63 - 1
OUT_OF_RANGE: Final = "ERR value is out of range"
MUST_BE_POSITIVE: Final = "ERR value is out of range, must be positive"


def drop_if_empty(ctx: Context, key: bytes, value: object) -> None:
    """Empty containers don't exist in Redis: remove the key once its last element is gone."""
    if not value:  # every container is falsy when empty
        ctx.keyspace.delete(key)


def blocking_pop(
    ctx: Context,
    client: ClientState,
    argv: list[bytes],
    *,
    kind: type,
    serve: Callable[[Context, ClientState, bytes], object | None],
) -> object:
    """BLPOP / BRPOP / BZPOPMIN / BZPOPMAX key [key ...] timeout.

    Pop at once from the first key holding a non-empty ``kind`` (WRONGTYPE only for a key
    before it, as in Redis); inside MULTI answer as on timeout; otherwise block on every key.
    ``serve`` pops one item from a key, or returns None when there is nothing to pop.
    """
    timeout = parse_timeout(argv[-1])
    keys = list(dict.fromkeys(argv[1:-1]))
    for key in keys:
        if typed_value(ctx, key, kind):
            return serve(ctx, client, key)
    if ctx.in_transaction:
        return NullArray
    return Block(keys, timeout, serve, NullArray, argv)


def register_scan(
    name: str,
    group: str,
    summary: str,
    lookup: Callable[[Context, bytes], Any],
    compact: Callable[[Any], bool],
    members: Callable[[Any], list[bytes]],
    items: Callable[[Any, bytes], tuple[object, ...]],
) -> None:
    """Register HSCAN / SSCAN / ZSCAN: key cursor [MATCH pattern] [COUNT count].

    A compact container (one Redis keeps as a listpack or intset) is returned whole with cursor
    0, as Redis does; a larger one is walked in COUNT-sized batches from a snapshot of its
    ``members``. ``items`` gives a member's reply items, or () if it was removed meanwhile.
    """

    def scan(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
        cursor = parse_cursor(argv[2])
        count, pattern, _ = parse_scan_options(argv, 3, allow_type=False)
        container = lookup(ctx, argv[1])
        if container is None:
            return [b"0", []]
        batch: list[object]
        if compact(container):
            next_cursor, batch = 0, list(members(container))
        else:
            snapshot: Callable[[], list[object]] = lambda: list(members(container))  # noqa: E731
            next_cursor, batch = ctx.keyspace.cursors.scan(container, cursor, count, snapshot)
        match = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
        out: list[object] = []
        for member in batch:
            assert isinstance(member, bytes)
            if match is None or match(member):
                out += items(container, member)
        return [b"%d" % next_cursor, out]

    command(
        name,
        -3,
        (READONLY,),
        group=group,
        since="2.8.0",
        complexity="O(1) for every call. O(N) for a complete iteration.",
        summary=summary,
    )(scan)


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


def parse_random_count(raw: bytes) -> int:
    """The count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER, with Redis's range checks."""
    count = parse_int(raw, NOT_INTEGER)
    if count < -INT64_MAX:
        raise CommandError(f"{OUT_OF_RANGE}, value must between {-INT64_MAX} and {INT64_MAX}")
    return count


ENCODE_ABOVE: Final = 1024  # a repeating reply longer than this is encoded here, compactly
MAX_RANDOM_REPLY: Final = 512 * 1024 * 1024  # bytes; a larger repeating reply is refused


def random_members(
    argv: list[bytes],
    option: bytes | None,
    lookup: Callable[[], Mapping[bytes, object] | Collection[bytes] | None],
    resp3: bool,
    population: Callable[[Any], Sequence[bytes]] = list,
) -> object:
    """HRANDFIELD / SRANDMEMBER / ZRANDMEMBER key [count [option]].

    ``lookup`` returns the container (after the arguments are checked, as Redis orders its
    errors); with ``option`` (WITHVALUES, WITHSCORES) it must be a mapping member -> value.
    ``population`` gives the members as a sequence (O(1) for an indexed container).
    """
    if option is None and len(argv) > 3:
        raise CommandError(SYNTAX)  # SRANDMEMBER checks its arity before the count
    count = parse_random_count(argv[2]) if len(argv) >= 3 else None
    with_values = len(argv) == 4
    if len(argv) > 4 or (with_values and argv[3].upper() != option):
        raise CommandError(SYNTAX)
    if with_values and count is not None and not -(INT64_MAX // 2) <= count <= INT64_MAX // 2:
        raise CommandError(OUT_OF_RANGE)
    container = lookup()
    if count is None:
        return None if container is None else random.choice(population(container))
    if container is None or count == 0:
        return []
    values = container if with_values else None
    assert values is None or isinstance(values, Mapping)
    members = population(container)
    if count < -ENCODE_ABOVE:
        return repeated_reply(members, -count, values, resp3)
    picked = random_pick(members, count)
    if values is None:
        return picked
    return pairs([(member, values[member]) for member in picked], resp3)


def random_pick(population: Sequence[T], count: int) -> list[T]:
    """``count`` > 0: that many distinct items at most; ``count`` < 0: exactly -count, with repeats."""
    if count >= 0:
        if count >= len(population):
            return list(population)
        return random.sample(population, count)
    return random.choices(population, k=-count)


def repeated_reply(
    members: Sequence[bytes], count: int, values: Mapping[bytes, object] | None, resp3: bool
) -> memoryview:
    """``count`` random members (with repeats), encoded here: the reply costs its own size.

    A list of ``count`` replies would cost ~60 bytes per element before encoding (Redis
    streams them at the size of the protocol); each distinct member is encoded once instead,
    then ``count`` references are joined in chunks.
    """
    direct = len(members) >= count  # no more picks than members: encode only what is picked
    if direct:
        members = random.choices(members, k=count)
    encoded: list[bytes] = []
    for member in members:
        item = encode_reply(member)
        if values is not None:
            item = (b"*2\r\n" if resp3 else b"") + item + encode_reply(values[member], resp3)
        encoded.append(item)
    average = sum(map(len, encoded)) / len(encoded)
    if average * count > MAX_RANDOM_REPLY:
        raise CommandError(OUT_OF_RANGE)
    size = count * 2 if values is not None and not resp3 else count
    chunks = [b"*%d\r\n" % size]
    done = count if direct else 0
    if direct:
        chunks.append(b"".join(encoded))
    while done < count:
        step = min(count - done, 65536)
        chunks.append(b"".join(random.choices(encoded, k=step)))
        done += step
    return memoryview(b"".join(chunks))


def pairs(items: list[tuple[bytes, object]], resp3: bool) -> list[object]:
    """A reply of pairs: nested [[a, b], ...] in RESP3, flat [a, b, ...] in RESP2 (as Redis does)."""
    if resp3:
        return [list(item) for item in items]
    flat: list[object] = []
    for first, second in items:
        flat += (first, second)
    return flat
