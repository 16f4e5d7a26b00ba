"""List commands, including the blocking pops. A list is a ``collections.deque[bytes]``.

A key that is created (by a push, LMOVE, RENAME, COPY...) wakes the clients blocked on it through
the keyspace's change signal (``kvserver.blocking``); they are served fairly, in the order they
blocked. A blocking command that finds data acts at once; otherwise it returns
a ``Block`` and the event loop carries on with other clients: there is no polling. Inside
MULTI/EXEC a blocking command never blocks; it answers as on timeout.

Writes are logged as sent; the blocking forms log their non-blocking equivalent (BLPOP as LPOP,
BLMOVE as LMOVE), for what they actually popped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Final

from kvserver.commands.args import INT64_MIN, keyword_options, parse_int, parse_timeout
from kvserver.commands.containers import blocking_pop, drop_if_empty, multi_pop, parse_pop_count, rank_span
from kvserver.commands.registry import (
    BLOCKING,
    DENYOOM,
    FAST,
    MOVABLEKEYS,
    NO_SUCH_KEY,
    NOSCRIPT,
    READONLY,
    SYNTAX,
    WRITE,
    WRONGTYPE,
    Block,
    CommandError,
    Context,
    KeyNum,
    Variant,
    arity_error,
    command,
    typed_value,
)
from kvserver.keyspace import ValueType, register_type
from kvserver.protocol import OK, NullArray
from kvserver.state import ClientState

LIST: Final = "list"
DUMP_CHUNK: Final = 512  # elements per RPUSH record in a rewrite


def _dump(key: bytes, value: deque[bytes]) -> Iterator[list[bytes]]:
    items = iter(value)  # lazily: the rewrite dumps a big list in slices (from a copy)
    while chunk := list(islice(items, DUMP_CHUNK)):
        yield [b"RPUSH", key, *chunk]


register_type(deque, ValueType(LIST, copy=deque.copy, dump=_dump, encoding=lambda value: b"quicklist"))


def get_list(ctx: Context, key: bytes) -> deque[bytes] | None:
    value: deque[bytes] | None = typed_value(ctx, key, deque)
    return value


@command(
    [
        Variant("lpush", "Prepend one or multiple elements to a list", left=True, only_existing=False),
        Variant("rpush", "Append one or multiple elements to a list", left=False, only_existing=False),
        Variant(
            "lpushx",
            "Prepend an element to a list, only if the list exists",
            since="2.2.0",
            left=True,
            only_existing=True,
        ),
        Variant(
            "rpushx",
            "Append an element to a list, only if the list exists",
            since="2.2.0",
            left=False,
            only_existing=True,
        ),
    ],
    -3,
    (WRITE, DENYOOM, FAST),
    group=LIST,
    complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple "
    "arguments.",
)
def _push(ctx: Context, client: ClientState, argv: list[bytes], *, left: bool, only_existing: bool) -> int:
    """LPUSH / RPUSH / LPUSHX / RPUSHX key element [element ...]"""
    key = argv[1]
    value = get_list(ctx, key)
    if value is None:
        if only_existing:
            return 0
        value = deque()
        ctx.keyspace.set(key, value)
    if left:
        value.extendleft(argv[2:])
    else:
        value.extend(argv[2:])
    ctx.propagate(argv)
    return len(value)


@command(
    [
        Variant("lpop", "Remove and get the first elements in a list", left=True),
        Variant("rpop", "Remove and get the last elements in a list", left=False),
    ],
    -2,
    (WRITE, FAST),
    group=LIST,
    complexity="O(N) where N is the number of elements returned",
)
def _pop(ctx: Context, client: ClientState, argv: list[bytes], *, left: bool) -> object:
    """LPOP / RPOP key [count]"""
    if len(argv) > 3:
        raise arity_error(argv[0].decode("utf-8", "replace").lower())
    count = None
    if len(argv) == 3:
        count = parse_pop_count(argv[2])
    key = argv[1]
    value = get_list(ctx, key)
    if value is None:
        return None if count is None else NullArray
    if count == 0:
        return []
    pop = value.popleft if left else value.pop
    items = [pop() for _ in range(min(count or 1, len(value)))]
    drop_if_empty(ctx, key, value)
    ctx.propagate(argv)
    return items[0] if count is None else items


@command("llen", 2, (READONLY, FAST), group=LIST, summary="Get the length of a list")
def llen_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(get_list(ctx, argv[1]) or ())


@command(
    "lrange",
    4,
    (READONLY,),
    group=LIST,
    complexity="O(S+N) where S is the distance of start offset from "
    "HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements "
    "in the specified range.",
    summary="Get a range of elements from a list",
)
def lrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    value = get_list(ctx, argv[1])
    if value is None:
        return []
    first, end = rank_span(len(value), start, stop)
    return list(islice(value, first, end))


@command(
    "lindex",
    3,
    (READONLY,),
    group=LIST,
    complexity="O(N) where N is the number of elements to traverse to "
    "get to the element at index. This makes asking for the first or the last element of the list O(1).",
    summary="Get an element from a list by its index",
)
def lindex_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    index = parse_int(argv[2])
    value = get_list(ctx, argv[1])
    if value is None or not -len(value) <= index < len(value):
        return None
    return value[index]


@command(
    "lset",
    4,
    (WRITE, DENYOOM),
    group=LIST,
    complexity="O(N) where N is the length of the list. Setting "
    "either the first or the last element of the list is O(1).",
    summary="Set the value of an element in a list by its index",
)
def lset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    index = parse_int(argv[2])
    value = get_list(ctx, argv[1])
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if not -len(value) <= index < len(value):
        raise CommandError("ERR index out of range")
    value[index] = argv[3]
    ctx.propagate(argv)
    return OK


@command(
    "linsert",
    5,
    (WRITE, DENYOOM),
    group=LIST,
    since="2.2.0",
    complexity="O(N) where N is the number of "
    "elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end "
    "on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
    summary="Insert an element before or after another element in a list",
)
def linsert_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LINSERT key BEFORE|AFTER pivot element"""
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    value = get_list(ctx, argv[1])
    if value is None:
        return 0
    try:
        position = value.index(argv[3])
    except ValueError:
        return -1
    value.insert(position + (where == b"AFTER"), argv[4])
    ctx.propagate(argv)
    return len(value)


@command(
    "lrem",
    4,
    (WRITE,),
    group=LIST,
    complexity="O(N+M) where N is the length of the list and M is the number of elements removed.",
    summary="Remove elements from a list",
)
def lrem_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LREM key count element: count > 0 from the head, < 0 from the tail, 0 all."""
    count = parse_int(argv[2])
    key, element = argv[1], argv[3]
    value = get_list(ctx, key)
    if value is None:
        return 0
    limit = abs(count) or len(value)
    items = list(value) if count >= 0 else list(reversed(value))
    kept: list[bytes] = []
    removed = 0
    for item in items:
        if removed < limit and item == element:
            removed += 1
        else:
            kept.append(item)
    if not removed:
        return 0
    value.clear()
    value.extend(kept if count >= 0 else reversed(kept))
    drop_if_empty(ctx, key, value)
    ctx.propagate(argv)
    return removed


@command(
    "ltrim",
    4,
    (WRITE,),
    group=LIST,
    complexity="O(N) where N is the number of elements to be removed by the operation.",
    summary="Trim a list to the specified range",
)
def ltrim_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    key = argv[1]
    value = get_list(ctx, key)
    if value is None:
        return OK
    first, end = rank_span(len(value), start, stop)
    if first == 0 and end == len(value):
        return OK
    if end - first < (len(value) - (end - first)) // 4:  # most go: rebuild from the kept few
        kept = list(islice(value, first, end))
        value.clear()
        value.extend(kept)
    else:  # O(removed), as Redis: pop from both ends
        popleft, pop = value.popleft, value.pop
        for _ in range(first):
            popleft()
        for _ in range(len(value) - (end - first)):
            pop()
    drop_if_empty(ctx, key, value)
    ctx.propagate(argv)
    return OK


_LPOS_OPTIONS: Final = (b"RANK", b"COUNT", b"MAXLEN")


@command(
    "lpos",
    -3,
    (READONLY,),
    group=LIST,
    since="6.0.6",
    complexity="O(N) where N is the number of elements "
    "in the list, for the average case. When searching for elements near the head or the tail of the list, or "
    "when the MAXLEN option is provided, the command may run in constant time.",
    summary="Return the index of matching elements on a list",
)
def lpos_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]"""
    rank, count, maxlen = 1, None, 0
    for name, raw in keyword_options(argv, 3, _LPOS_OPTIONS):
        if name == b"RANK":
            rank = parse_int(raw)
            if rank == 0:
                raise CommandError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                    "or use negative to start from the end of the list"
                )
            if rank == INT64_MIN:
                rank = -1  # Redis 7.0 negates it into an overflow that matches the first hit from the tail
        elif name == b"COUNT":
            count = parse_int(raw, "ERR COUNT can't be negative", low=0)
        else:
            maxlen = parse_int(raw, "ERR MAXLEN can't be negative", low=0)
    value = get_list(ctx, argv[1])
    if value is None:
        return [] if count is not None else None
    element = argv[2]
    length = len(value)
    indexes = range(length) if rank > 0 else range(length - 1, -1, -1)
    if maxlen:
        indexes = indexes[:maxlen]
    wanted = count or length
    skip = abs(rank) - 1
    found: list[int] = []
    items = value if rank > 0 else reversed(value)
    for index, item in zip(indexes, items, strict=False):
        if item == element:
            if skip:
                skip -= 1
                continue
            found.append(index)
            if len(found) >= wanted:
                break
    if count is None:
        return found[0] if found else None
    return found


# --- moving between lists --------------------------------------------------------------------------


def _direction(raw: bytes) -> bool:
    """LEFT -> True, RIGHT -> False."""
    upper = raw.upper()
    if upper == b"LEFT":
        return True
    if upper == b"RIGHT":
        return False
    raise CommandError(SYNTAX)


def _move(ctx: Context, source_key: bytes, target_key: bytes, from_left: bool, to_left: bool) -> bytes | None:
    """Pop from one end of the source, push to one end of the target; None if the source is empty."""
    source = get_list(ctx, source_key)
    if not source:
        return None
    target = get_list(ctx, target_key)
    element = source.popleft() if from_left else source.pop()
    if target is None:
        drop_if_empty(ctx, source_key, source)
        target = deque()
        ctx.keyspace.set(target_key, target)
    elif target is not source:  # (a rotation of one list keeps it, even with one element)
        drop_if_empty(ctx, source_key, source)
    if to_left:
        target.appendleft(element)
    else:
        target.append(element)
    side = {True: b"LEFT", False: b"RIGHT"}
    ctx.propagate([b"LMOVE", source_key, target_key, side[from_left], side[to_left]])
    return element


@command(
    "lmove",
    5,
    (WRITE, DENYOOM),
    keys=(1, 2, 1),
    group=LIST,
    since="6.2.0",
    summary="Pop an element from a list, push it to another list and return it",
)
def lmove_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LMOVE source destination LEFT|RIGHT LEFT|RIGHT"""
    return _move(ctx, argv[1], argv[2], _direction(argv[3]), _direction(argv[4]))


@command(
    "rpoplpush",
    3,
    (WRITE, DENYOOM),
    keys=(1, 2, 1),
    group=LIST,
    since="1.2.0",
    summary="Remove the last element in a list, prepend it to another list and return it",
)
def rpoplpush_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _move(ctx, argv[1], argv[2], False, True)


# --- blocking forms ------------------------------------------------------------------------------


def _pop_one(ctx: Context, client: ClientState, key: bytes, *, left: bool) -> object | None:
    """What BLPOP / BRPOP get from ``key``: [key, element], or None while it has none."""
    value = ctx.keyspace.get(key)
    if type(value) is not deque or not value:
        return None
    element = value.popleft() if left else value.pop()
    drop_if_empty(ctx, key, value)
    ctx.propagate([b"LPOP" if left else b"RPOP", key], [key])  # not the other keys waited on
    return [key, element]


def _pop_first(ctx: Context, client: ClientState, key: bytes) -> object | None:
    return _pop_one(ctx, client, key, left=True)


def _pop_last(ctx: Context, client: ClientState, key: bytes) -> object | None:
    return _pop_one(ctx, client, key, left=False)


@command(
    [
        Variant(
            "blpop", "Remove and get the first element in a list, or block until one is available", serve=_pop_first
        ),
        Variant("brpop", "Remove and get the last element in a list, or block until one is available", serve=_pop_last),
    ],
    -3,
    (WRITE, NOSCRIPT, BLOCKING),
    keys=(1, -2, 1),
    group=LIST,
    since="2.0.0",
    complexity="O(N) where N is the number of provided keys.",
)
def _blocking_pop(
    ctx: Context,
    client: ClientState,
    argv: list[bytes],
    *,
    serve: Callable[[Context, ClientState, bytes], object | None],
) -> object:
    return blocking_pop(ctx, client, argv, kind=deque, serve=serve)


def _blocking_move(ctx: Context, argv: list[bytes], from_left: bool, to_left: bool, timeout_raw: bytes) -> object:
    source_key, target_key = argv[1], argv[2]
    timeout = parse_timeout(timeout_raw)
    if get_list(ctx, source_key):
        return _move(ctx, source_key, target_key, from_left, to_left)
    if ctx.in_transaction:
        return None

    def serve(ctx: Context, client: ClientState, key: bytes) -> object | None:
        source = ctx.keyspace.get(key)
        if type(source) is not deque or not source:
            return None
        target = ctx.keyspace.get(target_key)
        if target is not None and type(target) is not deque:
            raise CommandError(WRONGTYPE)
        return _move(ctx, source_key, target_key, from_left, to_left)

    return Block([source_key], timeout, serve, None, argv)


@command(
    "blmove",
    6,
    (WRITE, DENYOOM, NOSCRIPT, BLOCKING),
    keys=(1, 2, 1),
    group=LIST,
    since="6.2.0",
    summary="Pop an element from a list, push it to another list and return it; or block until one is available",
)
def blmove_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout"""
    return _blocking_move(ctx, argv, _direction(argv[3]), _direction(argv[4]), argv[5])


@command(
    "brpoplpush",
    4,
    (WRITE, DENYOOM, NOSCRIPT, BLOCKING),
    keys=(1, 2, 1),
    group=LIST,
    since="2.2.0",
    summary="Pop an element from a list, push it to another list and return it; or block until one is available",
)
def brpoplpush_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BRPOPLPUSH source destination timeout"""
    return _blocking_move(ctx, argv, False, True, argv[3])


# --- popping from the first of several lists (LMPOP, BLMPOP) --------------------------------------

_SIDES: Final = {b"LEFT": True, b"RIGHT": False}
_MPOP_COMPLEXITY: Final = "O(N+M) where N is the number of provided keys and M is the number of elements returned."


def _pop_count(ctx: Context, key: bytes, left: bool, count: int) -> object | None:
    """[key, [up to ``count`` elements]] from one end of the list at ``key``, or None while it
    has none; logged as ``LPOP key n`` / ``RPOP key n`` for the n taken, as Redis does."""
    value = ctx.keyspace.get(key)
    if type(value) is not deque or not value:
        return None
    pop = value.popleft if left else value.pop
    items = [pop() for _ in range(min(count, len(value)))]
    drop_if_empty(ctx, key, value)
    ctx.propagate([b"LPOP" if left else b"RPOP", key, b"%d" % len(items)], [key])
    return [key, items]


@command(
    "lmpop",
    -4,
    (WRITE, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(1),
    group=LIST,
    since="7.0.0",
    complexity=_MPOP_COMPLEXITY,
    summary="Pop elements from a list",
)
def lmpop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]"""
    return multi_pop(ctx, client, argv, blocking=False, sides=_SIDES, kind=deque, pop=_pop_count)


@command(
    "blmpop",
    -5,
    (WRITE, BLOCKING, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(2),
    group=LIST,
    since="7.0.0",
    complexity=_MPOP_COMPLEXITY,
    summary="Pop elements from a list, or block until one is available",
)
def blmpop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"""
    return multi_pop(ctx, client, argv, blocking=True, sides=_SIDES, kind=deque, pop=_pop_count)
