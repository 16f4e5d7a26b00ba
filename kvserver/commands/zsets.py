"""Sorted set commands, on ``kvserver.zset.ZSet``.

Every range query bisects the sorted index and slices it: O(log n + m), never a walk of the whole
set. The range commands share one implementation, ``zrange_generic``, as in Redis: the legacy
forms (ZRANGEBYSCORE, ZREVRANGE...) are fixed option sets of ZRANGE. Writes are logged as sent:
each one is deterministic given the state it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Final

from kvserver.commands.args import leading_flags, parse_float, parse_int
from kvserver.commands.containers import (
    SCAN_COMPLEXITY,
    blocking_pop,
    drop_if_empty,
    multi_pop,
    pairs,
    parse_pop_count,
    random_members,
    rank_span,
    scan_container,
)
from kvserver.commands.registry import (
    BLOCKING,
    DENYOOM,
    FAST,
    MOVABLEKEYS,
    NOSCRIPT,
    READONLY,
    SYNTAX,
    WRITE,
    WRONGTYPE,
    CommandError,
    Context,
    KeyNum,
    Variant,
    command,
    typed_value,
)
from kvserver.keyspace import ValueType, register_type
from kvserver.protocol import format_double
from kvserver.state import ClientState
from kvserver.zset import MAX_LEX, MIN_LEX, LexBound, ZSet

ZSET: Final = "sorted-set"
NOT_FLOAT_RANGE: Final = "ERR min or max is not a float"
NOT_LEX_RANGE: Final = "ERR min or max not valid string range item"
NAN_SCORE: Final = "ERR resulting score is not a number (NaN)"
DUMP_CHUNK: Final = 512  # members per ZADD record in a rewrite
LOG_N: Final = "O(log(N))"


def _dump(key: bytes, value: ZSet) -> Iterator[list[bytes]]:
    entries = iter(value)  # lazily: the rewrite dumps a big sorted set in slices (from a copy)
    while chunk := list(islice(entries, DUMP_CHUNK)):
        argv = [b"ZADD", key]
        for score, member in chunk:
            argv += (format_double(score), member)  # %.17g round-trips every double exactly
        yield argv


register_type(ZSet, ValueType("zset", copy=ZSet.copy, dump=_dump, encoding=ZSet.encoding))


def get_zset(ctx: Context, key: bytes) -> ZSet | None:
    value: ZSet | None = typed_value(ctx, key, ZSet)
    return value


# --- range arguments -----------------------------------------------------------------------------


def parse_score_bound(raw: bytes) -> tuple[float, bool]:
    """A score bound: ``1.5``, ``(1.5`` (exclusive), ``-inf``, ``+inf``."""
    exclusive = raw[:1] == b"("
    value = parse_float(raw[1:] if exclusive else raw, NOT_FLOAT_RANGE)
    return value, exclusive


def parse_lex_bound(raw: bytes) -> LexBound:
    """A lex bound: ``[a`` (inclusive), ``(a`` (exclusive), ``-`` or ``+``."""
    if raw == b"-":
        return MIN_LEX
    if raw == b"+":
        return MAX_LEX
    if raw[:1] == b"[":
        return raw[1:], True
    if raw[:1] == b"(":
        return raw[1:], False
    raise CommandError(NOT_LEX_RANGE)


BY_RANK, BY_SCORE, BY_LEX = 0, 1, 2


class RangeQuery:
    """A parsed ZRANGE: how to select (rank, score or lex), direction, LIMIT, WITHSCORES."""

    __slots__ = ("by", "count", "high", "low", "offset", "reverse", "with_scores")

    def __init__(self) -> None:
        self.by = BY_RANK
        self.reverse = False
        self.with_scores = False
        self.offset = 0
        self.count = -1  # -1: no LIMIT
        # rank: ints; score: (value, exclusive); lex: LexBound
        self.low: Any = None
        self.high: Any = None

    def span(self, zset: ZSet) -> tuple[int, int]:
        """The rank range [first, end) the query selects, before LIMIT."""
        if self.by == BY_RANK:
            length = len(zset)
            first, end = rank_span(length, self.low, self.high)
            return (length - end, length - first) if self.reverse else (first, end)
        if self.by == BY_SCORE:
            return zset.score_span(*self.low, *self.high)
        return zset.lex_span(self.low, self.high)

    def run(self, zset: ZSet) -> list[tuple[float, bytes]]:
        first, end = self.span(zset)
        if self.offset < 0:
            return []
        if self.reverse:
            end -= self.offset
        else:
            first += self.offset
        if self.count >= 0:
            if self.reverse:
                first = max(first, end - self.count)
            else:
                end = min(end, first + self.count)
        if first >= end:
            return []
        return zset.slice(first, end, self.reverse)


def parse_range(argv: list[bytes], first: int, by: int, reverse: bool, legacy: bool, store: bool) -> RangeQuery:
    """Parse ``min max [options]`` starting at ``argv[first]`` with ZRANGE's rules and errors."""
    query = RangeQuery()
    query.by = by
    query.reverse = reverse
    has_limit = False
    j = first + 2
    while j < len(argv):
        opt = argv[j].upper()
        left = len(argv) - j - 1
        if opt == b"WITHSCORES" and not store:
            query.with_scores = True
        elif opt == b"LIMIT" and left >= 2:
            query.offset = parse_int(argv[j + 1])
            query.count = parse_int(argv[j + 2])
            has_limit = True
            j += 2
        elif not legacy and opt == b"BYSCORE" and query.by == BY_RANK:
            query.by = BY_SCORE
        elif not legacy and opt == b"BYLEX" and query.by == BY_RANK:
            query.by = BY_LEX
        elif not legacy and opt == b"REV":
            query.reverse = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    if has_limit and query.by == BY_RANK:
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if query.with_scores and query.by == BY_LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    low, high = argv[first], argv[first + 1]
    if query.reverse and query.by != BY_RANK:
        low, high = high, low  # reverse score and lex ranges are given as max min
    if query.by == BY_RANK:
        query.low, query.high = parse_int(low), parse_int(high)
    elif query.by == BY_SCORE:
        query.low, query.high = parse_score_bound(low), parse_score_bound(high)
    else:
        query.low, query.high = parse_lex_bound(low), parse_lex_bound(high)
    return query


def range_reply(entries: list[tuple[float, bytes]], with_scores: bool, resp3: bool) -> list[object]:
    if not with_scores:
        return [member for _, member in entries]
    return pairs([(member, score) for score, member in entries], resp3)


def zrange_generic(
    ctx: Context, client: ClientState, argv: list[bytes], by: int = BY_RANK, reverse: bool = False, legacy: bool = True
) -> object:
    query = parse_range(argv, 2, by, reverse, legacy, store=False)
    zset = get_zset(ctx, argv[1])
    if zset is None:
        return []
    return range_reply(query.run(zset), query.with_scores, client.resp3)


# --- writes --------------------------------------------------------------------------------------


def _zset_for_write(ctx: Context, key: bytes, zset: ZSet | None) -> ZSet:
    if zset is None:
        zset = ZSet()
        ctx.keyspace.set(key, zset)
    return zset


_NX, _XX, _GT, _LT, _CH, _INCR = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS: Final = {b"NX": _NX, b"XX": _XX, b"GT": _GT, b"LT": _LT, b"CH": _CH, b"INCR": _INCR}


@command(
    "zadd",
    -4,
    (WRITE, DENYOOM, FAST),
    group=ZSET,
    since="1.2.0",
    complexity="O(log(N)) for each item added, where N is the number of elements in the sorted set.",
    summary="Add one or more members to a sorted set, or update its score if it already exists",
)
def zadd_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"""
    flags, j = leading_flags(argv, 2, _ZADD_FLAGS)
    elements = len(argv) - j
    if elements == 0 or elements % 2:
        raise CommandError(SYNTAX)
    if flags & _NX and flags & _XX:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (flags & (_GT | _LT | _NX)).bit_count() > 1:
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    incr = flags & _INCR
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_float(argv[i]) for i in range(j, len(argv), 2)]
    key = argv[1]
    zset = get_zset(ctx, key)
    nx, xx, gt, lt = flags & _NX, flags & _XX, flags & _GT, flags & _LT
    added = updated = 0
    result: float | None = None
    for score, member in zip(scores, argv[j + 1 :: 2], strict=True):
        current = None if zset is None else zset.score(member)
        if current is None:
            if xx:
                continue
            zset = _zset_for_write(ctx, key, zset)
            zset.add(member, score)
            added += 1
            result = score
            continue
        if nx:
            continue
        if incr:
            score += current
            if math.isnan(score):
                if added or updated:
                    ctx.propagate(argv)
                raise CommandError(NAN_SCORE)
        if (gt and score <= current) or (lt and score >= current):
            continue
        result = score
        if score != current:
            assert zset is not None
            zset.add(member, score)
            updated += 1
    if added or updated:
        ctx.propagate(argv)
    if incr:
        return result
    return added + updated if flags & _CH else added


@command(
    "zincrby",
    4,
    (WRITE, DENYOOM, FAST),
    group=ZSET,
    since="1.2.0",
    complexity=LOG_N,
    summary="Increment the score of a member in a sorted set",
)
def zincrby_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key, member = argv[1], argv[3]
    delta = parse_float(argv[2])
    zset = get_zset(ctx, key)
    current = None if zset is None else zset.score(member)
    score = delta if current is None else current + delta
    if math.isnan(score):
        raise CommandError(NAN_SCORE)
    _zset_for_write(ctx, key, zset).add(member, score)
    ctx.propagate(argv)
    return score


@command(
    "zrem",
    -3,
    (WRITE, FAST),
    group=ZSET,
    since="1.2.0",
    complexity="O(M*log(N)) with N being the number of elements in the sorted set and M the number of "
    "elements to be removed.",
    summary="Remove one or more members from a sorted set",
)
def zrem_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    zset = get_zset(ctx, key)
    if zset is None:
        return 0
    removed = sum(zset.remove(member) for member in argv[2:])
    if removed:
        drop_if_empty(ctx, key, zset)
        ctx.propagate(argv)
    return removed


def _simple_query(by: int, low: bytes, high: bytes) -> RangeQuery:
    """A bare range (no options) of one kind, from its two arguments."""
    query = RangeQuery()
    query.by = by
    if by == BY_RANK:
        query.low, query.high = parse_int(low), parse_int(high)
    elif by == BY_SCORE:
        query.low, query.high = parse_score_bound(low), parse_score_bound(high)
    else:
        query.low, query.high = parse_lex_bound(low), parse_lex_bound(high)
    return query


@command(
    [
        Variant(
            "zremrangebyscore", "Remove all members in a sorted set within the given scores", since="1.2.0", by=BY_SCORE
        ),
        Variant(
            "zremrangebyrank", "Remove all members in a sorted set within the given indexes", since="2.0.0", by=BY_RANK
        ),
        Variant(
            "zremrangebylex",
            "Remove all members in a sorted set between the given lexicographical range",
            since="2.8.9",
            by=BY_LEX,
        ),
    ],
    4,
    (WRITE,),
    group=ZSET,
    complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed "
    "by the operation.",
)
def _remove_range(ctx: Context, client: ClientState, argv: list[bytes], *, by: int) -> int:
    """ZREMRANGEBYSCORE / ZREMRANGEBYRANK / ZREMRANGEBYLEX key min max"""
    query = _simple_query(by, argv[2], argv[3])
    key = argv[1]
    zset = get_zset(ctx, key)
    if zset is None:
        return 0
    first, end = query.span(zset)
    if first >= end:
        return 0
    zset.remove_ranks(first, end)
    drop_if_empty(ctx, key, zset)
    ctx.propagate(argv)
    return end - first


@command(
    [
        Variant(
            "zcount",
            "Count the members in a sorted set with scores within the given values",
            since="2.0.0",
            by=BY_SCORE,
        ),
        Variant(
            "zlexcount",
            "Count the number of members in a sorted set between a given lexicographical range",
            since="2.8.9",
            by=BY_LEX,
        ),
    ],
    4,
    (READONLY, FAST),
    group=ZSET,
    complexity=LOG_N,
)
def _count(ctx: Context, client: ClientState, argv: list[bytes], *, by: int) -> int:
    """ZCOUNT / ZLEXCOUNT key min max"""
    query = _simple_query(by, argv[2], argv[3])
    zset = get_zset(ctx, argv[1])
    if zset is None:
        return 0
    first, end = query.span(zset)
    return end - first


@command(
    [
        Variant("zpopmin", "Remove and return members with the lowest scores in a sorted set", highest=False),
        Variant("zpopmax", "Remove and return members with the highest scores in a sorted set", highest=True),
    ],
    -2,
    (WRITE, FAST),
    group=ZSET,
    since="5.0.0",
    complexity="O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements "
    "popped.",
)
def _pop(ctx: Context, client: ClientState, argv: list[bytes], *, highest: bool) -> object:
    """ZPOPMIN / ZPOPMAX key [count]"""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = 1
    if len(argv) == 3:
        count = parse_pop_count(argv[2])
    key = argv[1]
    zset = get_zset(ctx, key)
    if zset is None or count == 0:
        return []
    length = len(zset)
    first, end = (max(length - count, 0), length) if highest else (0, min(count, length))
    entries = zset.remove_ranks(first, end)
    if highest:
        entries.reverse()
    drop_if_empty(ctx, key, zset)
    ctx.propagate(argv)
    return range_reply(entries, True, client.resp3 and len(argv) == 3)


def _pop_one(ctx: Context, client: ClientState, key: bytes, *, highest: bool) -> object | None:
    """What BZPOPMIN / BZPOPMAX get from ``key``: [key, member, score], or None while it is empty."""
    zset = ctx.keyspace.get(key)
    if type(zset) is not ZSet or not zset:
        return None
    length = len(zset)
    score, member = zset.remove_ranks(length - 1, length)[0] if highest else zset.remove_ranks(0, 1)[0]
    drop_if_empty(ctx, key, zset)
    ctx.propagate([b"ZPOPMAX" if highest else b"ZPOPMIN", key], [key])  # not the other keys waited on
    return [key, member, score]


def _pop_lowest(ctx: Context, client: ClientState, key: bytes) -> object | None:
    return _pop_one(ctx, client, key, highest=False)


def _pop_highest(ctx: Context, client: ClientState, key: bytes) -> object | None:
    return _pop_one(ctx, client, key, highest=True)


@command(
    [
        Variant(
            "bzpopmin",
            "Remove and return the member with the lowest score from one or more sorted sets, or block until one is "
            "available",
            serve=_pop_lowest,
        ),
        Variant(
            "bzpopmax",
            "Remove and return the member with the highest score from one or more sorted sets, or block until one is "
            "available",
            serve=_pop_highest,
        ),
    ],
    -3,
    (WRITE, NOSCRIPT, FAST, BLOCKING),
    keys=(1, -2, 1),
    group=ZSET,
    since="5.0.0",
    complexity="O(log(N)) with N being the number of elements in the sorted set.",
)
def _blocking_pop(
    ctx: Context,
    client: ClientState,
    argv: list[bytes],
    *,
    serve: Callable[[Context, ClientState, bytes], object | None],
) -> object:
    return blocking_pop(ctx, client, argv, kind=ZSet, serve=serve)


# --- ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD ------------------------------------------
# As Redis's zunionInterDiffGenericCommand: a set is an input whose scores are all 1; inputs are
# visited from the smallest (union and intersection); a weighted score that is NaN (0 * inf) is
# 0, and so is a sum that is NaN (inf + -inf).


class _SetScores:
    """A set seen as a sorted set whose every score is 1 (no copy)."""

    __slots__ = ("members",)

    def __init__(self, members: set[bytes]) -> None:
        self.members = members

    def __len__(self) -> int:
        return len(self.members)

    def get(self, member: bytes) -> float | None:
        return 1.0 if member in self.members else None

    def items(self) -> Iterator[tuple[bytes, float]]:
        return ((member, 1.0) for member in self.members)


_Scores = dict[bytes, float] | _SetScores
_UNION, _INTER, _DIFF = "union", "inter", "diff"


def _sum(total: float, value: float) -> float:
    total += value
    return 0.0 if total != total else total  # inf + -inf: 0, as Redis


def _min(current: float, value: float) -> float:
    return value if value < current else current


def _max(current: float, value: float) -> float:
    return value if value > current else current


_AGGREGATES: Final = {b"SUM": _sum, b"MIN": _min, b"MAX": _max}


class _Algebra:
    """A parsed ZUNION / ZINTER / ZDIFF / ...STORE / ZINTERCARD: inputs, weights, options."""

    __slots__ = ("aggregate", "limit", "sources", "weights", "with_scores")

    def __init__(self) -> None:
        self.sources: list[_Scores] = []
        self.weights: list[float] = []
        self.aggregate: Callable[[float, float], float] = _sum
        self.with_scores = False
        self.limit = 0


def _parse_algebra(ctx: Context, argv: list[bytes], numkeys_at: int, op: str, store: bool, card: bool) -> _Algebra:
    """Redis's order: numkeys, the inputs' types, then the options."""
    numkeys = parse_int(argv[numkeys_at])
    if numkeys < 1:
        name = argv[0].decode("utf-8", "replace").lower()
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    j = numkeys_at + 1
    if numkeys > len(argv) - j:
        raise CommandError(SYNTAX)
    algebra = _Algebra()
    for key in argv[j : j + numkeys]:
        value = ctx.keyspace.get(key)
        if value is None:
            algebra.sources.append({})
        elif type(value) is ZSet:
            algebra.sources.append(value.scores)
        elif isinstance(value, set):
            algebra.sources.append(_SetScores(value))
        else:
            raise CommandError(WRONGTYPE)
    algebra.weights = [1.0] * numkeys
    j += numkeys
    while j < len(argv):
        option, remaining = argv[j].upper(), len(argv) - j
        if op != _DIFF and not card and remaining >= numkeys + 1 and option == b"WEIGHTS":
            algebra.weights = [
                parse_float(raw, "ERR weight value is not a float") for raw in argv[j + 1 : j + 1 + numkeys]
            ]
            j += 1 + numkeys
        elif op != _DIFF and not card and remaining >= 2 and option == b"AGGREGATE":
            aggregate = _AGGREGATES.get(argv[j + 1].upper())
            if aggregate is None:
                raise CommandError(SYNTAX)
            algebra.aggregate = aggregate
            j += 2
        elif not store and not card and option == b"WITHSCORES":
            algebra.with_scores = True
            j += 1
        elif card and remaining >= 2 and option == b"LIMIT":
            algebra.limit = parse_int(argv[j + 1], "ERR LIMIT can't be negative", low=0)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return algebra


def _union(algebra: _Algebra) -> dict[bytes, float]:
    result: dict[bytes, float] = {}
    aggregate = algebra.aggregate
    pairs_ = sorted(zip(algebra.sources, algebra.weights, strict=True), key=lambda pair: len(pair[0]))
    for source, weight in pairs_:
        for member, score in source.items():
            score *= weight
            if score != score:
                score = 0.0
            current = result.get(member)
            result[member] = score if current is None else aggregate(current, score)
    return result


def _inter(algebra: _Algebra, limit: int = 0) -> dict[bytes, float]:
    """The intersection; with ``limit``, stop once that many members are found."""
    result: dict[bytes, float] = {}
    aggregate = algebra.aggregate
    (first, first_weight), *others = sorted(
        zip(algebra.sources, algebra.weights, strict=True), key=lambda pair: len(pair[0])
    )
    if not len(first):
        return result
    for member, score in first.items():
        score *= first_weight
        if score != score:
            score = 0.0
        for source, weight in others:
            value = source.get(member)
            if value is None:
                break
            score = aggregate(score, value * weight)
        else:
            result[member] = score
            if limit and len(result) >= limit:
                break
    return result


def _diff(algebra: _Algebra) -> dict[bytes, float]:
    first, *others = algebra.sources
    others = [source for source in others if len(source)]
    return {member: score for member, score in first.items() if all(s.get(member) is None for s in others)}


_OPERATIONS: Final = {_UNION: _union, _INTER: _inter, _DIFF: _diff}
_UNION_COMPLEXITY: Final = (
    "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of "
    "elements in the resulting sorted set."
)
_INTER_COMPLEXITY: Final = (
    "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted "
    "sets and M being the number of elements in the resulting sorted set."
)
_DIFF_COMPLEXITY: Final = (
    "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the "
    "first set, and K is the size of the result set."
)


@command(
    [
        Variant("zunion", "Add multiple sorted sets", complexity=_UNION_COMPLEXITY, op=_UNION),
        Variant("zinter", "Intersect multiple sorted sets", complexity=_INTER_COMPLEXITY, op=_INTER),
        Variant("zdiff", "Subtract multiple sorted sets", complexity=_DIFF_COMPLEXITY, op=_DIFF),
    ],
    -3,
    (READONLY, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(1),
    group=ZSET,
    since="6.2.0",
)
def _algebra(ctx: Context, client: ClientState, argv: list[bytes], *, op: str) -> object:
    """ZUNION / ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES];
    ZDIFF numkeys key [key ...] [WITHSCORES]"""
    algebra = _parse_algebra(ctx, argv, 1, op, store=False, card=False)
    result = _OPERATIONS[op](algebra)
    entries = sorted((score, member) for member, score in result.items())  # (a -0 stays -0, as Redis)
    return range_reply(entries, algebra.with_scores, client.resp3)


@command(
    [
        Variant(
            "zunionstore",
            "Add multiple sorted sets and store the resulting sorted set in a new key",
            since="2.0.0",
            complexity=_UNION_COMPLEXITY,
            op=_UNION,
        ),
        Variant(
            "zinterstore",
            "Intersect multiple sorted sets and store the resulting sorted set in a new key",
            since="2.0.0",
            complexity=_INTER_COMPLEXITY,
            op=_INTER,
        ),
        Variant(
            "zdiffstore",
            "Subtract multiple sorted sets and store the resulting sorted set in a new key",
            since="6.2.0",
            complexity=_DIFF_COMPLEXITY,
            op=_DIFF,
        ),
    ],
    -4,
    (WRITE, DENYOOM, MOVABLEKEYS),
    keys=(1, 1, 1),
    find_keys=KeyNum(2, dest=True),
    group=ZSET,
)
def _algebra_store(ctx: Context, client: ClientState, argv: list[bytes], *, op: str) -> object:
    """ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE destination numkeys key [key ...] [options]: logged as
    sent (the result is a function of the inputs), announced on the destination only."""
    algebra = _parse_algebra(ctx, argv, 2, op, store=True, card=False)
    result = _OPERATIONS[op](algebra)
    dest = argv[1]
    if result:
        ctx.keyspace.set(dest, ZSet.from_scores(result))  # overwritten, not removed: no "del"
        ctx.propagate(argv, [dest])
    elif ctx.keyspace.delete(dest):
        ctx.propagate(argv, [dest])
    return len(result)


@command(
    "zintercard",
    -3,
    (READONLY, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(1),
    group=ZSET,
    since="7.0.0",
    complexity="O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
    summary="Intersect multiple sorted sets and return the cardinality of the result",
)
def zintercard_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZINTERCARD numkeys key [key ...] [LIMIT limit]"""
    algebra = _parse_algebra(ctx, argv, 1, _INTER, store=False, card=True)
    return len(_inter(algebra, algebra.limit))


_SIDES: Final = {b"MIN": False, b"MAX": True}
_MPOP_COMPLEXITY: Final = (
    "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, "
    "and M being the number of elements popped."
)


def _pop_count(ctx: Context, key: bytes, highest: bool, count: int) -> object | None:
    """[key, [[member, score], ...]] for up to ``count`` members popped from one end of the sorted
    set at ``key``, or None while it is empty; logged as ``ZPOPMIN key n`` / ``ZPOPMAX key n``."""
    zset = ctx.keyspace.get(key)
    if type(zset) is not ZSet or not zset:
        return None
    length = len(zset)
    taken = min(count, length)
    entries = zset.remove_ranks(length - taken, length) if highest else zset.remove_ranks(0, taken)
    if highest:
        entries.reverse()
    drop_if_empty(ctx, key, zset)
    ctx.propagate([b"ZPOPMAX" if highest else b"ZPOPMIN", key, b"%d" % taken], [key])
    return [key, [[member, score] for score, member in entries]]


@command(
    "zmpop",
    -4,
    (WRITE, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(1),
    group=ZSET,
    since="7.0.0",
    complexity=_MPOP_COMPLEXITY,
    summary="Remove and return members with scores in a sorted set",
)
def zmpop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]"""
    return multi_pop(ctx, client, argv, blocking=False, sides=_SIDES, kind=ZSet, pop=_pop_count)


@command(
    "bzmpop",
    -5,
    (WRITE, BLOCKING, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=KeyNum(2),
    group=ZSET,
    since="7.0.0",
    complexity=_MPOP_COMPLEXITY,
    summary="Remove and return members with scores in a sorted set or block until one is available",
)
def bzmpop_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]"""
    return multi_pop(ctx, client, argv, blocking=True, sides=_SIDES, kind=ZSet, pop=_pop_count)


# --- reads ---------------------------------------------------------------------------------------


@command("zcard", 2, (READONLY, FAST), group=ZSET, since="1.2.0", summary="Get the number of members in a sorted set")
def zcard_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(get_zset(ctx, argv[1]) or ())


@command(
    "zscore", 3, (READONLY, FAST), group=ZSET, since="1.2.0", summary="Get the score associated with the given member"
)
def zscore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    zset = get_zset(ctx, argv[1])
    return None if zset is None else zset.score(argv[2])


@command(
    "zmscore",
    -3,
    (READONLY, FAST),
    group=ZSET,
    since="6.2.0",
    complexity="O(N) where N is the number of members being requested.",
    summary="Get the score associated with the given members in a sorted set",
)
def zmscore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    zset = get_zset(ctx, argv[1]) or ZSet()
    return [zset.score(member) for member in argv[2:]]


@command(
    [
        Variant("zrank", "Determine the index of a member in a sorted set", reverse=False),
        Variant(
            "zrevrank",
            "Determine the index of a member in a sorted set, with scores ordered from high to low",
            reverse=True,
        ),
    ],
    3,
    (READONLY, FAST),
    group=ZSET,
    since="2.0.0",
    complexity=LOG_N,
)
def _rank(ctx: Context, client: ClientState, argv: list[bytes], *, reverse: bool) -> object:
    """ZRANK / ZREVRANK key member"""
    zset = get_zset(ctx, argv[1])
    rank = None if zset is None else zset.rank(argv[2])
    if rank is None or zset is None:
        return None
    return len(zset) - 1 - rank if reverse else rank


_RANGE_COMPLEXITY: Final = (
    "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."
)


@command(
    "zrange",
    -4,
    (READONLY,),
    group=ZSET,
    since="1.2.0",
    complexity=_RANGE_COMPLEXITY,
    summary="Return a range of members in a sorted set",
)
def zrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"""
    return zrange_generic(ctx, client, argv, legacy=False)


@command(
    "zrangestore",
    -5,
    (WRITE, DENYOOM),
    keys=(1, 2, 1),
    group=ZSET,
    since="6.2.0",
    complexity=_RANGE_COMPLEXITY,
    summary="Store a range of members from sorted set into another key",
)
def zrangestore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]"""
    query = parse_range(argv, 3, BY_RANK, False, legacy=False, store=True)
    source = get_zset(ctx, argv[2])
    entries = [] if source is None else query.run(source)
    dest = argv[1]
    if entries:
        zset = ZSet()
        for score, member in entries:
            zset.add(member, score)
        ctx.keyspace.set(dest, zset)  # overwritten, not removed and created: no "new" event
        ctx.propagate(argv, [dest])  # the source is read, not changed
    elif ctx.keyspace.delete(dest):
        ctx.propagate(argv, [dest])
    return len(entries)


@command(
    [
        Variant(
            "zrevrange",
            "Return a range of members in a sorted set, by index, with scores ordered from high to low",
            since="1.2.0",
            by=BY_RANK,
            reverse=True,
        ),
        Variant(
            "zrangebyscore",
            "Return a range of members in a sorted set, by score",
            since="1.0.5",
            by=BY_SCORE,
            reverse=False,
        ),
        Variant(
            "zrevrangebyscore",
            "Return a range of members in a sorted set, by score, with scores ordered from high to low",
            since="2.2.0",
            by=BY_SCORE,
            reverse=True,
        ),
        Variant(
            "zrangebylex",
            "Return a range of members in a sorted set, by lexicographical range",
            since="2.8.9",
            by=BY_LEX,
            reverse=False,
        ),
        Variant(
            "zrevrangebylex",
            "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower "
            "strings.",
            since="2.8.9",
            by=BY_LEX,
            reverse=True,
        ),
    ],
    -4,
    (READONLY,),
    group=ZSET,
    complexity=_RANGE_COMPLEXITY,
)
def _legacy_range(ctx: Context, client: ClientState, argv: list[bytes], *, by: int, reverse: bool) -> object:
    """ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX: ZRANGE's older forms."""
    return zrange_generic(ctx, client, argv, by, reverse)


@command(
    "zrandmember",
    -2,
    (READONLY,),
    group=ZSET,
    since="6.2.0",
    complexity="O(N) where N is the number of members returned",
    summary="Get one or multiple random elements from a sorted set",
)
def zrandmember_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZRANDMEMBER key [count [WITHSCORES]]"""

    found: list[ZSet] = []

    def lookup() -> dict[bytes, float] | None:
        zset = get_zset(ctx, argv[1])
        if zset is None:
            return None
        found.append(zset)
        return zset.scores

    def population(scores: dict[bytes, float]) -> list[bytes]:
        members = found[0].members  # O(1) once the set is large; else at most 128 members
        return list(scores) if members is None else members

    return random_members(argv, b"WITHSCORES", lookup, client.resp3, population)


def _scan_items(zset: ZSet, member: bytes) -> tuple[object, ...]:
    score = zset.score(member)
    return () if score is None else (member, format_double(score))


def _scan_members(zset: ZSet) -> list[bytes]:
    return [member for _, member in zset]


def _scan_compact(zset: ZSet) -> bool:
    return zset.encoding() == b"listpack"


@command(
    "zscan",
    -3,
    (READONLY,),
    group=ZSET,
    since="2.8.0",
    complexity=SCAN_COMPLEXITY,
    summary="Incrementally iterate sorted sets elements and associated scores",
)
def zscan_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """ZSCAN key cursor [MATCH pattern] [COUNT count]"""
    return scan_container(ctx, argv, get_zset, _scan_compact, _scan_members, _scan_items)
