"""The sorted set structure against a plain sorted-list model, with no server."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from kvserver.zset import MAX_LEX, MIN_LEX, ZSet

members = st.binary(min_size=0, max_size=3)
scores = st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf]))
operations = st.lists(st.tuples(st.booleans(), members, scores), max_size=60)


def build(ops: list[tuple[bool, bytes, float]]) -> tuple[ZSet, dict[bytes, float]]:
    zset, model = ZSet(), {}
    for add, member, score in ops:
        if add:
            assert zset.add(member, score) == (member not in model)
            model[member] = score + 0.0  # -0.0 is stored as 0.0
        else:
            assert zset.remove(member) == (model.pop(member, None) is not None)
    return zset, model


def ordered(model: dict[bytes, float]) -> list[tuple[float, bytes]]:
    return sorted((score, member) for member, score in model.items())


@given(operations)
def test_order_scores_and_ranks_match_the_model(ops: list[tuple[bool, bytes, float]]) -> None:
    zset, model = build(ops)
    expected = ordered(model)
    assert list(zset) == expected
    assert len(zset) == len(model)
    for rank, (score, member) in enumerate(expected):
        assert zset.score(member) == score
        assert zset.rank(member) == rank
    assert zset.copy() == zset


@given(operations, scores, st.booleans(), scores, st.booleans())
def test_score_span_selects_exactly_the_scores_in_range(
    ops: list[tuple[bool, bytes, float]], low: float, low_open: bool, high: float, high_open: bool
) -> None:
    zset, model = build(ops)
    first, end = zset.score_span(low, low_open, high, high_open)
    expected = [
        entry
        for entry in ordered(model)
        if (entry[0] > low if low_open else entry[0] >= low) and (entry[0] < high if high_open else entry[0] <= high)
    ]
    assert zset.slice(first, end) == expected


@given(st.lists(members, max_size=30, unique=True), members, st.booleans(), members, st.booleans())
def test_lex_span_on_equal_scores(
    names: list[bytes], low: bytes, low_inclusive: bool, high: bytes, high_inclusive: bool
) -> None:
    zset = ZSet()
    for name in names:
        zset.add(name, 0.0)
    first, end = zset.lex_span((low, low_inclusive), (high, high_inclusive))
    expected = [
        name
        for name in sorted(names)
        if (name >= low if low_inclusive else name > low) and (name <= high if high_inclusive else name < high)
    ]
    assert [member for _, member in zset.slice(first, end)] == expected
    assert zset.lex_span(MIN_LEX, MAX_LEX) == (0, len(names))


def test_remove_ranks_and_reverse_slices() -> None:
    zset = ZSet()
    for i in range(10):
        zset.add(b"m%d" % i, float(i))
    assert zset.slice(7, 10, reverse=True) == [(9.0, b"m9"), (8.0, b"m8"), (7.0, b"m7")]
    assert zset.remove_ranks(0, 3) == [(0.0, b"m0"), (1.0, b"m1"), (2.0, b"m2")]
    assert zset.score(b"m0") is None
    assert zset.rank(b"m3") == 0
    assert len(zset) == 7


def test_encoding_follows_redis_thresholds() -> None:
    zset = ZSet()
    zset.add(b"short", 1.0)
    assert zset.encoding() == b"listpack"
    zset.add(b"x" * 65, 2.0)
    assert zset.encoding() == b"skiplist"
