"""The data: a dict from key to value, plus expiry deadlines and a sorted TTL index.

Deadlines are absolute wall-clock milliseconds (they are persisted). Each one lives twice: in
``expires`` (key -> deadline, for O(1) checks on access) and in ``ttl_index``, a sorted list of
``(deadline, key)`` pairs that the active expiry walks from the front. The key is the tie-break, so
removing one entry is O(log n) even when a million keys share a deadline.

An expired key is never returned: every access checks the deadline and removes the key (lazy
expiry), and ``purge_expired`` removes keys nobody reads (active expiry). Either way the
``on_expire`` hook hears about it, so the database can log a DEL. While ``loading`` is set (log
replay) nothing expires, because the log already records every deletion in its place, and only
``expires`` is kept: the sorted index is built in one pass when loading ends.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sortedcontainers import SortedList


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Keyspace:
    __slots__ = ("clock", "cursors", "data", "expires", "loading", "on_expire", "ttl_index")

    def __init__(self, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self.ttl_index: SortedList = SortedList()
        self.clock = clock
        self.loading = False
        self.on_expire: Callable[[bytes], None] | None = None
        self.cursors = CursorTable()

    def __len__(self) -> int:
        return len(self.data)

    # --- reads ---------------------------------------------------------------------------------

    def get(self, key: bytes) -> object | None:
        """The live value of ``key``, or None; an expired key is removed on the way."""
        value = self.data.get(key)
        if value is None:
            return None
        deadline = self.expires.get(key)
        if deadline is not None and deadline <= self.clock() and not self.loading:
            self._expire(key)
            return None
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def deadline(self, key: bytes) -> int | None:
        """The deadline of a live key, or None if it has none (check existence first)."""
        return self.expires.get(key)

    def live_keys(self) -> Iterator[bytes]:
        """Live keys; keys that turn out to be expired are skipped (the caller may remove them)."""
        now = self.clock()
        expires = self.expires
        for key in list(self.data):
            deadline = expires.get(key)
            if deadline is None or deadline > now or self.loading:
                yield key

    def is_expired(self, key: bytes, now: int) -> bool:
        deadline = self.expires.get(key)
        return deadline is not None and deadline <= now and not self.loading

    def random_key(self) -> bytes | None:
        """A uniformly chosen live key (O(n) in the worst case: dicts have no random access)."""
        for _ in range(100):
            if not self.data:
                return None
            key = next(islice(iter(self.data), random.randrange(len(self.data)), None))
            if self.get(key) is not None:
                return key
        return None

    # --- writes --------------------------------------------------------------------------------

    def set(self, key: bytes, value: object, deadline: int | None = None) -> None:
        """Store ``value``; the key's deadline becomes ``deadline`` (None: no expiry)."""
        self.data[key] = value
        if deadline is not None or key in self.expires:
            self.set_deadline(key, deadline)

    def set_keep_ttl(self, key: bytes, value: object) -> None:
        """Replace the value of a key, keeping its deadline if it has one."""
        self.data[key] = value

    def set_deadline(self, key: bytes, deadline: int | None) -> None:
        """Change the deadline of an existing key (None removes it)."""
        old = self.expires.get(key)
        if old == deadline:
            return
        if self.loading:  # the TTL index is built once, when loading ends
            if deadline is None:
                del self.expires[key]
            else:
                self.expires[key] = deadline
            return
        if old is not None:
            # remove before insert: the index must never hold two entries for one key
            self.ttl_index.remove((old, key))
            del self.expires[key]
        if deadline is not None:
            self.expires[key] = deadline
            self.ttl_index.add((deadline, key))

    def delete(self, key: bytes) -> bool:
        """Remove a key; True if a live key was removed."""
        if key not in self.data:
            return False
        deadline = self.expires.get(key)
        if deadline is not None and deadline <= self.clock() and not self.loading:
            self._expire(key)
            return False
        self._remove(key)
        return True

    def clear(self) -> None:
        self.data.clear()
        self.expires.clear()
        self.ttl_index.clear()

    # --- expiry --------------------------------------------------------------------------------

    def purge_expired(self, now: int, limit: int) -> int:
        """Remove up to ``limit`` keys whose deadline is at or before ``now``; return the count."""
        if self.loading:
            return 0
        index = self.ttl_index
        due = min(int(index.bisect_left((now + 1,))), limit)
        if not due:
            return 0
        victims = [key for _, key in islice(index, due)]
        del index[:due]
        data = self.data
        expires = self.expires
        hook = self.on_expire
        for key in victims:
            del data[key]
            del expires[key]
            if hook is not None:
                hook(key)
        return due

    def next_deadline(self) -> int | None:
        return self.ttl_index[0][0] if self.ttl_index else None

    def _expire(self, key: bytes) -> None:
        self._remove(key)
        if self.on_expire is not None:
            self.on_expire(key)

    def _remove(self, key: bytes) -> None:
        del self.data[key]
        deadline = self.expires.pop(key, None)
        if deadline is not None and not self.loading:
            self.ttl_index.remove((deadline, key))

    # --- loading -------------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Log replay: nothing expires, and the TTL index is left alone until ``finish_loading``."""
        self.loading = True

    def finish_loading(self) -> None:
        """Build the TTL index from the deadlines in one sort (much cheaper than n inserts)."""
        self.loading = False
        self.ttl_index = SortedList((deadline, key) for key, deadline in self.expires.items())


# --- value types ---------------------------------------------------------------------------------
# A value's Python type is its Redis type: bytes, dict, set, ZSet, deque; no wrapper object per
# key. Each data-type module registers its type here, so TYPE, SCAN TYPE, COPY, OBJECT ENCODING,
# the log rewrite and export work for every type without knowing them.


@dataclass(frozen=True, slots=True)
class ValueType:
    name: str  # Redis's name: string, hash, list, set, zset
    copy: Callable[[Any], object]  # an independent copy (COPY must not share containers)
    # commands that rebuild the value, at most 512 elements each; may be lazy, so the value
    # must not change while they are consumed (the rewrite walks a copy of a big value)
    dump: Callable[[bytes, Any], Iterable[list[bytes]]]
    encoding: Callable[[Any], bytes]  # what OBJECT ENCODING answers


VALUE_TYPES: dict[type, ValueType] = {}


def register_type(kind: type, value_type: ValueType) -> None:
    VALUE_TYPES[kind] = value_type


def type_name(value: object) -> str:
    """Redis's name for a value's type: string, list, set, zset, hash."""
    return VALUE_TYPES[type(value)].name


def copy_value(value: object) -> object:
    return VALUE_TYPES[type(value)].copy(value)


def dump_key(keyspace: Keyspace, key: bytes, value: object) -> list[list[bytes]]:
    """The canonical commands that recreate ``key``: its value, then its deadline if it has one."""
    return list(iter_dump(key, value, keyspace.deadline(key)))


def iter_dump(key: bytes, value: object, deadline: int | None) -> Iterator[list[bytes]]:
    """``dump_key``'s commands one at a time; ``value`` must not change meanwhile."""
    yield from VALUE_TYPES[type(value)].dump(key, value)
    if deadline is not None:
        yield [b"PEXPIREAT", key, b"%d" % deadline]


class CursorTable:
    """Server-side SCAN cursors: a snapshot of the items to walk and a position in it.

    Python dicts can't be walked by a stable position while they change, so a scan takes a list
    snapshot once and hands out batches from it. Every item present for the whole scan is
    returned; items added meanwhile may be missed and removed ones are filtered by the caller, as
    SCAN's contract allows. Open cursors are bounded by total snapshot size; an unknown or
    evicted cursor restarts the scan (items may then repeat, which SCAN also allows).
    """

    def __init__(self, max_items: int = 16_000_000) -> None:
        self._open: dict[int, tuple[object, list[object], int]] = {}
        self._items = 0
        self._max_items = max_items
        self._next = random.randrange(1 << 40, 1 << 48)

    def scan(
        self, owner: object, cursor: int, count: int, snapshot: Callable[[], list[object]]
    ) -> tuple[int, list[object]]:
        entry = self._open.pop(cursor, None) if cursor else None
        if entry is not None and entry[0] is owner:
            _, items, pos = entry
            self._items -= len(items)
        else:
            if entry is not None:
                self._items -= len(entry[1])
            items, pos = snapshot(), 0
        batch = items[pos : pos + count]
        pos += count
        if pos >= len(items):
            return 0, batch
        cursor = self._next
        self._next += 1
        self._open[cursor] = (owner, items, pos)
        self._items += len(items)
        while self._items > self._max_items and len(self._open) > 1:
            oldest = next(iter(self._open))
            self._items -= len(self._open.pop(oldest)[1])
        return cursor, batch
