"""The sorted set value: a member -> score dict plus a sorted index of ``(score, member)`` pairs.

The dict answers ZSCORE and membership in O(1); the index gives rank, score-range and lex-range
queries in O(log n) plus the size of the answer, as Redis's skiplist does. Ties on score are
ordered by member bytes, which is Redis's order too. No sockets and no commands here: the
sorted-set commands in ``kvserver.commands.zsets`` are built on these methods.

The index of a set of up to ``FLAT_ENTRIES`` members is a ``FlatIndex``, one sorted list
searched with ``bisect`` (compiled with this module); past that it becomes a
``sortedcontainers.SortedList`` (interpreted), and stays one. Most sorted sets are small (a
user's sessions, a rate limiter's window, a queue's few delayed jobs): the flat index takes
about a quarter of a SortedList's memory (120 bytes against 432 for one member), and ZADD, ZREM
and ZREMRANGEBYSCORE on such a set cost 20-30% fewer instructions, as Redis keeps a small set
in a listpack. Both answer the same interface (the part of SortedList's this package uses).

Past ``LISTPACK_ENTRIES`` members a sorted set also keeps its members in a list with each
one's position (``members``/``slots``, swap-remove on delete), as sets and hashes do: ZSCAN
walks positions from the end down, which never skips a member present for the whole scan
(ranks can't serve: an insert or delete shifts every rank after it).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import Any, Final

from sortedcontainers import SortedList

INF = math.inf

# Redis 7.0's defaults for the compact encoding (zset-max-listpack-entries / -value).
LISTPACK_ENTRIES = 128
LISTPACK_VALUE = 64

# Members up to which the index is one flat list: SortedList's own sublists hold up to twice
# its load factor (1,000), so a flat list of this size is what SortedList would search anyway.
FLAT_ENTRIES: Final = 1000

Pair = tuple[float, bytes]


class FlatIndex:
    """A sorted list of pairs, with the part of SortedList's interface the sorted sets use."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Pair] = ()) -> None:
        self.items: list[Pair] = sorted(items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.items)

    def __reversed__(self) -> Iterator[Pair]:
        return reversed(self.items)

    def __getitem__(self, i: int) -> Pair:
        return self.items[i]

    def __delitem__(self, span: slice) -> None:
        del self.items[span]

    def add(self, pair: Pair) -> None:
        insort(self.items, pair)

    def remove(self, pair: Pair) -> None:
        del self.items[self.index(pair)]

    def index(self, pair: Pair) -> int:
        items = self.items
        i = bisect_left(items, pair)
        if i == len(items) or items[i] != pair:
            raise ValueError(f"{pair!r} is not in the index")
        return i

    def bisect_left(self, pair: Pair) -> int:
        return bisect_left(self.items, pair)

    def bisect_right(self, pair: Pair) -> int:
        return bisect_right(self.items, pair)

    def islice(self, start: int | None = None, stop: int | None = None, reverse: bool = False) -> Iterator[Pair]:
        """The pairs from rank ``start`` to ``stop - 1`` (slice bounds), last first if ``reverse``."""
        part = self.items[start:stop]
        return reversed(part) if reverse else iter(part)

    def copy(self) -> FlatIndex:
        clone = FlatIndex()
        clone.items = self.items.copy()
        return clone


def new_index(pairs: Iterable[Pair], size: int) -> Any:
    """The index for ``size`` pairs: flat while the set is small (``FLAT_ENTRIES``)."""
    return FlatIndex(pairs) if size <= FLAT_ENTRIES else SortedList(pairs)


class ZSet:
    __slots__ = ("index", "members", "scores", "slots")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.index: Any = FlatIndex()  # FlatIndex or SortedList (the module's docstring)
        self.members: list[bytes] | None = None  # positions, once the set is large (see above)
        self.slots: dict[bytes, int] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        """(score, member) pairs in rank order."""
        return iter(self.index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZSet) and self.scores == other.scores

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"ZSet({list(self.index)!r})"

    # --- updates -------------------------------------------------------------------------------

    def add(self, member: bytes, score: float) -> bool:
        """Set ``member``'s score; True if the member is new."""
        if score == 0.0:
            score = 0.0  # -0.0 and 0.0 are one score; store one of them
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return False
            self.index.remove((old, member))
        self.scores[member] = score
        self.index.add((score, member))
        if old is None:
            if type(self.index) is FlatIndex and len(self.scores) > FLAT_ENTRIES:
                self.index = SortedList(self.index.items)
            if self.slots is not None and self.members is not None:
                self.slots[member] = len(self.members)
                self.members.append(member)
            elif len(self.scores) > LISTPACK_ENTRIES:
                self.members = list(self.scores)
                self.slots = {m: i for i, m in enumerate(self.members)}
        return old is None

    def _unslot(self, member: bytes) -> None:
        if self.slots is None or self.members is None:
            return
        slot = self.slots.pop(member)
        last = self.members.pop()
        if slot < len(self.members):
            self.members[slot] = last
            self.slots[last] = slot

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.index.remove((score, member))
        self._unslot(member)
        return True

    def remove_ranks(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Remove the entries with ranks ``start`` to ``stop - 1`` and return them."""
        removed: list[tuple[float, bytes]] = list(self.index.islice(start, stop))
        del self.index[start:stop]
        for _, member in removed:
            del self.scores[member]
            self._unslot(member)
        return removed

    @classmethod
    def from_scores(cls, scores: dict[bytes, float]) -> ZSet:
        """A sorted set holding ``scores`` (taken, not copied): O(n log n), one sort."""
        zset = cls()
        for member, score in scores.items():
            if score == 0.0:
                scores[member] = 0.0  # as ``add``: one zero
        zset.scores = scores
        zset.index = new_index(((score, member) for member, score in scores.items()), len(scores))
        if len(scores) > LISTPACK_ENTRIES:
            zset.members = list(scores)
            zset.slots = {m: i for i, m in enumerate(zset.members)}
        return zset

    def copy(self) -> ZSet:
        clone = ZSet()
        clone.scores = dict(self.scores)
        clone.index = self.index.copy()
        if self.members is not None:
            clone.members = list(self.members)
            clone.slots = dict(self.slots or {})
        return clone

    # --- queries -------------------------------------------------------------------------------

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return int(self.index.index((score, member)))

    def slice(self, start: int, stop: int, reverse: bool = False) -> list[tuple[float, bytes]]:
        """The entries with ranks ``start`` to ``stop - 1`` (in reverse order if asked)."""
        return list(self.index.islice(start, stop, reverse=reverse))

    def score_span(self, low: float, low_open: bool, high: float, high_open: bool) -> tuple[int, int]:
        """The rank range [first, end) of the scores between the bounds."""
        index = self.index
        if low_open:
            first = len(index) if low == INF else index.bisect_left((math.nextafter(low, INF), b""))
        else:
            first = index.bisect_left((low, b""))
        if high_open:
            end = index.bisect_left((high, b""))
        else:
            end = len(index) if high == INF else index.bisect_left((math.nextafter(high, INF), b""))
        return int(first), max(int(first), int(end))

    def lex_span(self, low: LexBound, high: LexBound) -> tuple[int, int]:
        """The rank range [first, end) of the members between lex bounds.

        Lex ranges are defined for sets whose members all have the same score (as in Redis).
        With mixed scores Redis's skiplist search compares members only, as if they were in
        member order; so does this (a binary search on the members by rank): where members
        happen to be in that order too (scores 1 2 3 for a b c), the answer is Redis's.
        """
        index = self.index
        if not index:
            return 0, 0
        score = index[0][0]
        if index[-1][0] == score:  # one score: bisect the pairs
            first = _lex_position(index, score, low, is_low=True)
            end = _lex_position(index, score, high, is_low=False)
        else:
            first = _lex_search(index, low, is_low=True)
            end = _lex_search(index, high, is_low=False)
        return first, max(first, end)

    def encoding(self) -> bytes:
        """What OBJECT ENCODING says: Redis 7.0's choice for a set of this shape."""
        if len(self.scores) <= LISTPACK_ENTRIES and all(len(m) <= LISTPACK_VALUE for m in self.scores):
            return b"listpack"
        return b"skiplist"


# A lex bound: (member, inclusive), or MIN_LEX / MAX_LEX for "-" and "+".
LexBound = tuple[bytes, bool] | str
MIN_LEX = "-"
MAX_LEX = "+"


def _infinite(bound: LexBound, length: int) -> int | None:
    """Where "-" and "+" are: 0 and the end; None for a member bound."""
    return 0 if bound == MIN_LEX else length if bound == MAX_LEX else None


def _lex_position(index: Any, score: float, bound: LexBound, is_low: bool) -> int:
    end = _infinite(bound, len(index))
    if end is not None:
        return end
    assert isinstance(bound, tuple)
    member, inclusive = bound
    if is_low == inclusive:
        # low inclusive / high exclusive: the first entry >= member
        return int(index.bisect_left((score, member)))
    return int(index.bisect_right((score, member)))


def _lex_search(index: Any, bound: LexBound, is_low: bool) -> int:
    """As ``_lex_position``, comparing members only (O(log² n): each probe indexes the list)."""
    end = _infinite(bound, len(index))
    if end is not None:
        return end
    assert isinstance(bound, tuple)
    member, inclusive = bound
    after_equal = is_low != inclusive  # bisect_right: past the entries equal to member
    lo, hi = 0, len(index)
    while lo < hi:
        mid = (lo + hi) // 2
        probe = index[mid][1]
        if probe < member or (after_equal and probe == member):
            lo = mid + 1
        else:
            hi = mid
    return lo
