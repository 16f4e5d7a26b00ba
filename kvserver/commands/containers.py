"""What the container types (hash, set, sorted set, list) share: scans, random picks, cleanup."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final, TypeVar

from kvserver.commands.args import (
    INT64_MAX,
    MUST_BE_POSITIVE,
    OUT_OF_RANGE,
    parse_int,
    parse_timeout,
    range_error,
)
from kvserver.commands.keys import parse_cursor, parse_scan_options
from kvserver.commands.registry import (
    SYNTAX,
    Block,
    CommandError,
    Context,
    typed_value,
)
from kvserver.glob import compile_glob
from kvserver.native import mypyc_attr
from kvserver.protocol import NullArray, encode_reply
from kvserver.state import ClientState
from kvserver.zset import ZSet

T = TypeVar("T")


# --- indexed containers ----------------------------------------------------------------------
# A set or hash that grows past its compact size switches (as Redis switches listpack/intset to
# hashtable) to a subclass that also keeps its members in a list and each member's position in
# a dict; a removal moves the last member into the hole (swap-remove). That gives O(1) random
# picks (SRANDMEMBER, SPOP, HRANDFIELD) and cursor scans without server state: a cursor is a
# position, walked from the end of the list down. An element present for the whole scan is never
# skipped, because a removal only ever moves the last element, which is at or above any
# unvisited position, down into a lower slot. Small containers stay plain sets and dicts.


@mypyc_attr(native_class=False)
class IndexedSet(set[bytes]):
    """A ``set`` whose members can also be reached by position (see above)."""

    __slots__ = ("members", "slots")

    def __init__(self, items: Iterable[bytes] = ()) -> None:
        super().__init__(items)
        self.members: list[bytes] = list(set.__iter__(self))
        self.slots: dict[bytes, int] = {member: i for i, member in enumerate(self.members)}

    def add(self, member: bytes) -> None:
        if member not in self.slots:
            set.add(self, member)
            self.slots[member] = len(self.members)
            self.members.append(member)

    def discard(self, member: object) -> None:
        slot = self.slots.pop(member, None)  # type: ignore[call-overload]
        if slot is None:
            return
        set.discard(self, member)
        last = self.members.pop()
        if slot < len(self.members):
            self.members[slot] = last
            self.slots[last] = slot

    def remove(self, member: bytes) -> None:
        if member not in self.slots:
            raise KeyError(member)
        self.discard(member)

    def pop(self) -> bytes:
        member = self.members[-1]
        self.discard(member)
        return member

    def update(self, *others: Iterable[bytes]) -> None:
        for other in others:
            for member in other:
                self.add(member)

    def difference_update(self, *others: Iterable[object]) -> None:
        for other in others:
            for member in other:
                self.discard(member)

    def clear(self) -> None:
        set.clear(self)
        self.members.clear()
        self.slots.clear()

    def copy(self) -> IndexedSet:
        return IndexedSet(self.members)

    def __ior__(self, other: AbstractSet[bytes]) -> IndexedSet:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __isub__(self, other: AbstractSet[bytes]) -> IndexedSet:  # type: ignore[override,misc]
        self.difference_update(other)
        return self

    def intersection_update(self, *others: Iterable[object]) -> None:
        raise NotImplementedError  # not used by any command: would bypass the index

    # each written out: a compiled class body can't name its own methods
    def symmetric_difference_update(self, *others: Iterable[object]) -> None:
        raise NotImplementedError

    def __iand__(self, *others: Iterable[object]) -> None:  # type: ignore[override]
        raise NotImplementedError

    def __ixor__(self, *others: Iterable[object]) -> None:  # type: ignore[override]
        raise NotImplementedError


# IndexedHash.pop's "no default given" (a module constant: mypyc compiles no class-level one)
_MISSING: Final = object()


@mypyc_attr(native_class=False)
class IndexedHash(dict[bytes, bytes]):
    """A ``dict`` whose fields can also be reached by position (see above)."""

    __slots__ = ("fields", "slots")

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        super().__init__(items or {})
        self.fields: list[bytes] = list(dict.__iter__(self))
        self.slots: dict[bytes, int] = {field: i for i, field in enumerate(self.fields)}

    def __setitem__(self, field: bytes, value: bytes) -> None:
        if field not in self.slots:
            self.slots[field] = len(self.fields)
            self.fields.append(field)
        dict.__setitem__(self, field, value)

    def __delitem__(self, field: bytes) -> None:
        dict.__delitem__(self, field)
        slot = self.slots.pop(field)
        last = self.fields.pop()
        if slot < len(self.fields):
            self.fields[slot] = last
            self.slots[last] = slot

    def pop(self, field: bytes, default: Any = _MISSING) -> Any:
        if field in self.slots:
            value = dict.__getitem__(self, field)
            del self[field]
            return value
        if default is _MISSING:
            raise KeyError(field)
        return default

    def setdefault(self, field: bytes, default: bytes) -> bytes:
        if field not in self.slots:
            self[field] = default
        return dict.__getitem__(self, field)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for field, value in dict(*args, **kwargs).items():
            self[field] = value

    def clear(self) -> None:
        dict.clear(self)
        self.fields.clear()
        self.slots.clear()

    def copy(self) -> IndexedHash:
        return IndexedHash(self)

    def popitem(self) -> tuple[bytes, bytes]:
        field = self.fields[-1]
        return field, self.pop(field)

    def __ior__(self, other: Any) -> IndexedHash:  # type: ignore[override,misc]
        self.update(other)
        return self


def positions(container: object) -> Sequence[bytes] | None:
    """The position-indexed members of an indexed container, None for a plain one."""
    if type(container) is IndexedSet:
        return container.members
    if type(container) is IndexedHash:
        return container.fields
    if type(container) is ZSet:
        return container.members
    return None


def scan_positions(members: Sequence[bytes], cursor: int, count: int) -> tuple[int, list[bytes]]:
    """One step of a scan from the end of ``members`` down; the cursor is the next position + 1."""
    top = len(members) if cursor == 0 else min(cursor, len(members))
    bottom = max(top - count, 0)
    batch = [members[i] for i in range(top - 1, bottom - 1, -1)]
    return bottom, batch


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
    keys: list[bytes] | None = None,
    timeout_at: int = -1,
) -> object:
    """BLPOP / BRPOP / BZPOPMIN / BZPOPMAX key [key ...] timeout (BLMPOP / BZMPOP give their
    ``keys`` and where the timeout is).

    Pop at once from the first key holding a non-empty ``kind`` (WRONGTYPE only for a key
    before it, as in Redis); inside MULTI answer as on timeout; otherwise block on every key.
    ``serve`` pops from a key, or returns None when there is nothing to pop.
    """
    timeout = parse_timeout(argv[timeout_at])
    keys = list(dict.fromkeys(argv[1:-1] if keys is None else keys))
    for key in keys:
        if typed_value(ctx, key, kind):
            return serve(ctx, client, key)
    if ctx.in_transaction:
        return NullArray
    return Block(keys, timeout, serve, NullArray, argv)


NUMKEYS_POSITIVE: Final = "ERR numkeys should be greater than 0"
COUNT_POSITIVE: Final = "ERR count should be greater than 0"


def parse_mpop(argv: list[bytes], numkeys_at: int, sides: Mapping[bytes, bool]) -> tuple[list[bytes], bool, int]:
    """LMPOP / BLMPOP / ZMPOP / BZMPOP ... numkeys key [key ...] <side> [COUNT count].

    Returns the keys, the side (``sides`` maps LEFT|RIGHT or MIN|MAX to it) and the count (1
    without COUNT), with Redis's checks in its order: numkeys, the side, then the options.
    """
    numkeys = parse_int(argv[numkeys_at], NUMKEYS_POSITIVE, low=1)
    side_at = numkeys_at + numkeys + 1
    if side_at >= len(argv):
        raise CommandError(SYNTAX)
    side = sides.get(argv[side_at].upper())
    if side is None:
        raise CommandError(SYNTAX)
    count = None
    j = side_at + 1
    while j < len(argv):
        if count is None and j + 1 < len(argv) and argv[j].upper() == b"COUNT":
            count = parse_int(argv[j + 1], COUNT_POSITIVE, low=1)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1 : side_at], side, count or 1


SCAN_COMPLEXITY: Final = "O(1) for every call. O(N) for a complete iteration."


def multi_pop(
    ctx: Context,
    client: ClientState,
    argv: list[bytes],
    *,
    blocking: bool,
    sides: Mapping[bytes, bool],
    kind: type,
    pop: Callable[[Context, bytes, bool, int], object | None],
) -> object:
    """LMPOP / ZMPOP numkeys key [key ...] <side> [COUNT count], and BLMPOP / BZMPOP timeout ...:
    ``pop(ctx, key, side, count)`` from the first key that holds a ``kind`` (WRONGTYPE for a key
    of another type before it), else a null array, or (blocking) a wait on every key."""
    keys, side, count = parse_mpop(argv, 2 if blocking else 1, sides)

    def serve(ctx: Context, client: ClientState, key: bytes) -> object | None:
        return pop(ctx, key, side, count)

    if blocking:
        return blocking_pop(ctx, client, argv, kind=kind, serve=serve, keys=keys, timeout_at=1)
    for key in keys:
        if typed_value(ctx, key, kind):
            return serve(ctx, client, key)
    return NullArray


def scan_container(
    ctx: Context,
    argv: list[bytes],
    lookup: Callable[[Context, bytes], Any],
    compact: Callable[[Any], bool],
    members: Callable[[Any], list[bytes]],
    items: Callable[[Any, bytes], tuple[object, ...]],
) -> object:
    """HSCAN / SSCAN / ZSCAN key cursor [MATCH pattern] [COUNT count].

    A compact container (one Redis keeps as a listpack or intset), or any plain one (at most
    512 members: larger ones are indexed), is returned whole with cursor 0, as Redis does for
    listpacks; an indexed one is walked by position, COUNT per call (``scan_positions``).
    ``items`` gives a member's reply items, or () if it was removed meanwhile.
    """
    cursor = parse_cursor(argv[2])
    count, pattern, _ = parse_scan_options(argv, 3, allow_type=False)
    container = lookup(ctx, argv[1])
    if container is None:
        return [b"0", []]
    batch: list[object]
    indexed = positions(container)
    if compact(container) or indexed is None:  # (a large container is always indexed)
        next_cursor, batch = 0, list(members(container))
    else:
        next_cursor, batch = scan_positions(indexed, cursor, count)  # type: ignore[assignment]
    match = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
    out: list[object] = []
    for member in batch:
        assert isinstance(member, bytes)
        if match is None or match(member):
            out += items(container, member)
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
    return parse_int(raw, MUST_BE_POSITIVE, low=0)


def parse_random_count(raw: bytes) -> int:
    """The count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER, with Redis's range checks."""
    return parse_int(raw, low=-INT64_MAX, out_of_range=range_error(-INT64_MAX, INT64_MAX))


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
    pair = b"*2\r\n" if resp3 else b""
    for member in members:
        item = b"$%d\r\n%b\r\n" % (len(member), member)
        if values is not None:
            value = values[member]
            tail = b"$%d\r\n%b\r\n" % (len(value), value) if type(value) is bytes else encode_reply(value, resp3)
            item = pair + item + tail
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
