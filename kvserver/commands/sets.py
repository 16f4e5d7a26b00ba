"""Set commands. A set is a plain ``set[bytes]``, or past ``INTSET_ENTRIES`` members an
``IndexedSet`` (a set that can also be reached by position: O(1) SPOP/SRANDMEMBER, SSCAN
cursors without server state).

Writes are logged as sent, except SPOP: it picks members at random, so it logs an SREM of the
members it actually removed, and replay is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Final

from kvserver.commands.args import int64_or_none, parse_int
from kvserver.commands.containers import (
    SCAN_COMPLEXITY,
    IndexedSet,
    drop_if_empty,
    parse_pop_count,
    random_members,
    random_pick,
    scan_container,
)
from kvserver.commands.registry import (
    DENYOOM,
    FAST,
    MOVABLEKEYS,
    READONLY,
    SYNTAX,
    WRITE,
    WRONGTYPE,
    CommandError,
    Context,
    KeyNum,
    Variant,
    command,
)
from kvserver.keyspace import ValueType, register_type
from kvserver.protocol import SetReply
from kvserver.state import ClientState

SET: Final = "set"
INTSET_ENTRIES: Final = 512  # Redis 7.0's set-max-intset-entries
DUMP_CHUNK: Final = 512  # members per SADD record in a rewrite


def _is_int(member: bytes) -> bool:
    """Whether Redis would store ``member`` in an intset (a canonical 64-bit integer)."""
    return int64_or_none(member) is not None


def is_compact(value: set[bytes]) -> bool:
    return len(value) <= INTSET_ENTRIES and all(_is_int(member) for member in value)


def _dump(key: bytes, value: set[bytes]) -> Iterator[list[bytes]]:
    members = iter(value)  # lazily: the rewrite dumps a big set in slices
    while chunk := list(islice(members, DUMP_CHUNK)):
        yield [b"SADD", key, *chunk]


def _encoding(value: set[bytes]) -> bytes:
    return b"intset" if is_compact(value) else b"hashtable"


register_type(set, ValueType(SET, copy=set.copy, dump=_dump, encoding=_encoding))
register_type(IndexedSet, ValueType(SET, copy=IndexedSet.copy, dump=_dump, encoding=_encoding))


def _members(value: set[bytes] | None) -> list[bytes]:
    """The members in Redis's order where it has one: an intset is sorted by value."""
    if value is None:
        return []
    return sorted(value, key=int) if is_compact(value) else list(value)


def get_set(ctx: Context, key: bytes) -> set[bytes] | None:
    """The set at ``key`` (plain or indexed), None if missing; WRONGTYPE for another type."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is set or type(value) is IndexedSet:
        return value
    raise CommandError(WRONGTYPE)


def index_if_large(ctx: Context, key: bytes, value: set[bytes]) -> set[bytes]:
    """Past INTSET_ENTRIES members a plain set becomes an IndexedSet (Redis: a hashtable)."""
    if type(value) is set and len(value) > INTSET_ENTRIES:
        value = IndexedSet(value)
        ctx.keyspace.set_keep_ttl(key, value)
    return value


@command(
    "sadd",
    -3,
    (WRITE, DENYOOM, FAST),
    group=SET,
    complexity="O(1) for each element added, so O(N) to add N elements when the command is called "
    "with multiple arguments.",
    summary="Add one or more members to a set",
)
def sadd_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    value = get_set(ctx, key)
    if value is None:
        value = set()
        ctx.keyspace.set(key, value)
    before = len(value)
    value.update(argv[2:])
    added = len(value) - before
    if added:
        index_if_large(ctx, key, value)
        ctx.propagate(argv)
    return added


@command(
    "srem",
    -3,
    (WRITE, FAST),
    group=SET,
    complexity="O(N) where N is the number of members to be removed.",
    summary="Remove one or more members from a set",
)
def srem_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    value = get_set(ctx, key)
    if value is None:
        return 0
    before = len(value)
    value.difference_update(argv[2:])
    removed = before - len(value)
    if removed:
        drop_if_empty(ctx, key, value)
        ctx.propagate(argv)
    return removed


@command(
    "smembers",
    2,
    (READONLY,),
    group=SET,
    complexity="O(N) where N is the set cardinality.",
    summary="Get all the members in a set",
)
def smembers_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return SetReply(_members(get_set(ctx, argv[1])))


@command("sismember", 3, (READONLY, FAST), group=SET, summary="Determine if a given value is a member of a set")
def sismember_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return int(argv[2] in (get_set(ctx, argv[1]) or ()))


@command(
    "smismember",
    -3,
    (READONLY, FAST),
    group=SET,
    since="6.2.0",
    complexity="O(N) where N is the number of elements being checked for membership",
    summary="Returns the membership associated with the given elements for a set",
)
def smismember_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = get_set(ctx, argv[1]) or set()
    return [int(member in value) for member in argv[2:]]


@command("scard", 2, (READONLY, FAST), group=SET, summary="Get the number of members in a set")
def scard_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(get_set(ctx, argv[1]) or ())


@command(
    "spop",
    -2,
    (WRITE, FAST),
    group=SET,
    complexity="Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
    summary="Remove and return one or multiple random members from a set",
)
def spop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SPOP key [count]"""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = None
    if len(argv) == 3:
        count = parse_pop_count(argv[2])
    key = argv[1]
    value = get_set(ctx, key)
    if value is None or count == 0:
        return None if count is None else SetReply()
    if count is None:
        popped = random_pick(_population(value), 1)
        value.discard(popped[0])
    elif count >= len(value):
        popped = list(value)
        value.clear()
    else:
        popped = random_pick(_population(value), count)
        value.difference_update(popped)
    drop_if_empty(ctx, key, value)
    ctx.propagate([b"SREM", key, *popped])
    return popped[0] if count is None else SetReply(popped)


@command(
    "srandmember",
    -2,
    (READONLY,),
    group=SET,
    complexity="Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
    summary="Get one or multiple random members from a set",
)
def srandmember_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SRANDMEMBER key [count]"""
    return random_members(argv, None, lambda: get_set(ctx, argv[1]), client.resp3, _population)


def _population(value: set[bytes]) -> Sequence[bytes]:
    """The members as a sequence: O(1) for an IndexedSet, a copy of at most INTSET_ENTRIES otherwise."""
    return value.members if type(value) is IndexedSet else list(value)


@command(
    "smove",
    4,
    (WRITE, FAST),
    keys=(1, 2, 1),
    group=SET,
    summary="Move a member from one set to another",
)
def smove_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    source_key, target_key, member = argv[1], argv[2], argv[3]
    source = get_set(ctx, source_key)
    target = get_set(ctx, target_key)
    if source is None or member not in source:
        return 0
    if source is target:
        return 1
    source.discard(member)
    drop_if_empty(ctx, source_key, source)
    if target is not None and member in target:  # the destination is unchanged: not announced
        ctx.propagate([b"SREM", source_key, member], [source_key])  # (nor dirtied for WATCH), as Redis
        return 1
    if target is None:
        target = set()
        ctx.keyspace.set(target_key, target)
    target.add(member)
    index_if_large(ctx, target_key, target)
    ctx.propagate(argv)
    return 1


def _operands(ctx: Context, keys: list[bytes]) -> list[set[bytes] | None]:
    """The sets at ``keys`` (None for a missing key); WRONGTYPE if any key holds another type."""
    return [get_set(ctx, key) for key in keys]


def _intersection(sets: list[set[bytes] | None], limit: int = 0) -> set[bytes]:
    if not sets or any(s is None for s in sets):
        return set()
    present = sorted((s for s in sets if s is not None), key=len)
    smallest, rest = present[0], present[1:]
    result: set[bytes] = set()
    for member in smallest:  # smallest first, as Redis does: O(N*M) with N the smallest set
        if all(member in other for other in rest):
            result.add(member)
            if len(result) == limit:
                break
    return result


def _union(sets: list[set[bytes] | None]) -> set[bytes]:
    result: set[bytes] = set()
    for s in sets:
        if s is not None:
            result |= s
    return result


def _difference(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*(s for s in sets[1:] if s is not None))


def _store(ctx: Context, argv: list[bytes], result: set[bytes]) -> int:
    """The *STORE forms: replace the destination (of any type) with the result."""
    dest = argv[1]
    if result:
        ctx.keyspace.set(dest, result)  # overwritten, not removed and created: no "new" event
        index_if_large(ctx, dest, result)
        ctx.propagate(argv, [dest])  # the sources are read, not changed
    elif ctx.keyspace.delete(dest):
        ctx.propagate(argv, [dest])
    return len(result)


_INTER_COMPLEXITY: Final = (
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."
)
_SUM_COMPLEXITY: Final = "O(N) where N is the total number of elements in all given sets."
Operation = Callable[[list[set[bytes] | None]], set[bytes]]


@command(
    [
        Variant("sinter", "Intersect multiple sets", complexity=_INTER_COMPLEXITY, operation=_intersection),
        Variant("sunion", "Add multiple sets", operation=_union),
        Variant("sdiff", "Subtract multiple sets", operation=_difference),
    ],
    -2,
    (READONLY,),
    keys=(1, -1, 1),
    group=SET,
    complexity=_SUM_COMPLEXITY,
)
def _algebra(ctx: Context, client: ClientState, argv: list[bytes], *, operation: Operation) -> object:
    return SetReply(_members(operation(_operands(ctx, argv[1:]))))


@command(
    [
        Variant(
            "sinterstore",
            "Intersect multiple sets and store the resulting set in a key",
            complexity=_INTER_COMPLEXITY,
            operation=_intersection,
        ),
        Variant("sunionstore", "Add multiple sets and store the resulting set in a key", operation=_union),
        Variant("sdiffstore", "Subtract multiple sets and store the resulting set in a key", operation=_difference),
    ],
    -3,
    (WRITE, DENYOOM),
    keys=(1, -1, 1),
    group=SET,
    complexity=_SUM_COMPLEXITY,
)
def _algebra_store(ctx: Context, client: ClientState, argv: list[bytes], *, operation: Operation) -> object:
    return _store(ctx, argv, operation(_operands(ctx, argv[2:])))


@command(
    "sintercard",
    -3,
    (READONLY, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(1),
    group=SET,
    since="7.0.0",
    complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
    summary="Intersect multiple sets and return the cardinality of the result",
)
def sintercard_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]"""
    numkeys = parse_int(argv[1], "ERR numkeys should be greater than 0", low=1)
    if numkeys > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].upper() == b"LIMIT" and j + 1 < len(argv):
            limit = parse_int(argv[j + 1], "ERR LIMIT can't be negative", low=0)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return len(_intersection(_operands(ctx, argv[2 : 2 + numkeys]), limit))


def _scan_items(value: set[bytes], member: bytes) -> tuple[object, ...]:
    return (member,) if member in value else ()


@command(
    "sscan",
    -3,
    (READONLY,),
    group=SET,
    since="2.8.0",
    complexity=SCAN_COMPLEXITY,
    summary="Incrementally iterate Set elements",
)
def sscan_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SSCAN key cursor [MATCH pattern] [COUNT count]"""
    return scan_container(ctx, argv, get_set, is_compact, _members, _scan_items)
