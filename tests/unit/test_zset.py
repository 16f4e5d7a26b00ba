"""The sorted set structure against a plain sorted-list model, with no server."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sortedcontainers import SortedList

from kvserver.zset import FLAT_ENTRIES, MAX_LEX, MIN_LEX, FlatIndex, ZSet

members = st.binary(min_size=0, max_size=3)
scores = st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf]))
operations = st.lists(st.tuples(st.booleans(), members, scores), max_size=60)


def build(ops: list[tuple[bool, bytes, float]], large: bool = False) -> tuple[ZSet, dict[bytes, float]]:
    """The set after ``ops``; ``large`` starts it past FLAT_ENTRIES (a SortedList index)."""
    zset, model = ZSet(), {}
    if large:
        for i in range(FLAT_ENTRIES + 1):
            member = b"big:%05d" % i  # longer than any of ``members``: no clash
            zset.add(member, float(i % 7))
            model[member] = float(i % 7)
        assert type(zset.index) is SortedList
    for add, member, score in ops:
        if add:
            assert zset.add(member, score) == (member not in model)
            model[member] = score + 0.0  # -0.0 is stored as 0.0
        else:
            assert zset.remove(member) == (model.pop(member, None) is not None)
    return zset, model


def ordered(model: dict[bytes, float]) -> list[tuple[float, bytes]]:
    return sorted((score, member) for member, score in model.items())


@given(operations, st.booleans())
def test_order_scores_and_ranks_match_the_model(ops: list[tuple[bool, bytes, float]], large: bool) -> None:
    zset, model = build(ops, large)
    expected = ordered(model)
    assert list(zset) == expected
    assert len(zset) == len(model)
    for rank, (score, member) in enumerate(expected):
        assert zset.score(member) == score
        assert zset.rank(member) == rank
    assert zset.copy() == zset


@given(operations, scores, st.booleans(), scores, st.booleans(), st.booleans())
def test_score_span_selects_exactly_the_scores_in_range(
    ops: list[tuple[bool, bytes, float]], low: float, low_open: bool, high: float, high_open: bool, large: bool
) -> None:
    zset, model = build(ops, large)
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


pairs = st.tuples(scores.map(lambda score: score + 0.0), members)
cuts = st.tuples(st.integers(-5, 40), st.integers(-5, 40))
index_ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "cut"]), pairs, cuts), max_size=60)


@given(index_ops, pairs, st.integers(-5, 40), st.integers(-5, 40), st.booleans())
def test_flat_index_answers_as_sortedlist_does(
    ops: list[tuple[str, tuple[float, bytes], tuple[int, int]]],
    probe: tuple[float, bytes],
    start: int,
    stop: int,
    reverse: bool,
) -> None:
    """FlatIndex stands in for SortedList while a set is small: the same answers to the same calls."""
    flat, tree = FlatIndex(), SortedList()
    for op, pair, (low, high) in ops:
        if op == "add" and pair not in tree:  # a sorted set's pairs are unique
            flat.add(pair)
            tree.add(pair)
        elif op == "remove" and pair in tree:
            flat.remove(pair)
            tree.remove(pair)
        elif op == "cut":
            del flat[low:high]
            del tree[low:high]
    assert list(flat) == list(tree)
    assert list(reversed(flat)) == list(reversed(tree))
    assert len(flat) == len(tree)
    assert flat.bisect_left(probe) == tree.bisect_left(probe)
    assert flat.bisect_right(probe) == tree.bisect_right(probe)
    assert list(flat.islice(start, stop, reverse=reverse)) == list(tree.islice(start, stop, reverse=reverse))
    assert list(flat.islice()) == list(tree.islice())
    if probe in tree:
        assert flat.index(probe) == tree.index(probe)
    else:
        with pytest.raises(ValueError, match="not in"):
            flat.index(probe)
        with pytest.raises(ValueError, match="not in"):
            flat.remove(probe)
    for i in range(-len(tree), len(tree)):
        assert flat[i] == tree[i]
    assert list(flat.copy()) == list(tree)


def test_the_index_becomes_a_sortedlist_past_flat_entries_and_stays_one() -> None:
    zset = ZSet()
    for i in range(FLAT_ENTRIES):
        zset.add(b"m%05d" % i, float(-i))
    assert type(zset.index) is FlatIndex
    assert zset.add(b"m%05d" % 0, 5.0) is False  # an update is not a new member
    assert type(zset.index) is FlatIndex
    assert type(zset.copy().index) is FlatIndex
    zset.add(b"one more", 0.5)
    assert type(zset.index) is SortedList
    assert type(zset.copy().index) is SortedList
    assert zset.rank(b"m00999") == 0
    assert zset.rank(b"m00000") == FLAT_ENTRIES
    assert zset.slice(0, 2) == [(-float(FLAT_ENTRIES - 1), b"m00999"), (-float(FLAT_ENTRIES - 2), b"m00998")]
    zset.remove_ranks(0, FLAT_ENTRIES - 10)
    assert len(zset) == 11
    assert type(zset.index) is SortedList
    assert list(zset) == sorted(zset.index)


def test_from_scores_picks_the_index_by_size() -> None:
    small = ZSet.from_scores({b"a": 2.0, b"b": 1.0, b"c": -0.0})
    assert type(small.index) is FlatIndex
    assert list(small) == [(0.0, b"c"), (1.0, b"b"), (2.0, b"a")]
    large = ZSet.from_scores({b"%d" % i: float(i) for i in range(FLAT_ENTRIES + 1)})
    assert type(large.index) is SortedList
    assert large.rank(b"7") == 7
