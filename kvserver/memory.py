"""maxmemory: how much memory the server uses, and eviction when a write would pass the limit.

Python has no cheap exact count of the bytes it holds (pymalloc's arenas are mapped outside
malloc, and its statistics cost a walk of every pool). ``used_memory`` is therefore the process's
resident set size, read from ``/proc/self/statm`` at most once every ``SAMPLE_SECONDS``: what the
OS actually charges the server, interpreter and connections included.

RSS does not shrink when the allocators keep freed memory for reuse. After evicting, the meter
calls glibc's ``malloc_trim`` (at most every TRIM_SECONDS) so the heap's free pages go back to the
OS and big values show up as freed; for what stays (pymalloc's arenas, mostly) it subtracts a
*credit*: the estimated size of what it evicted. The credit holds while RSS stays flat (new writes
reuse the freed memory) and is dropped as soon as RSS grows again (the freed memory is used up);
when RSS falls, the fall is taken off the credit. Without it, one eviction that the OS does not see
would cascade into evicting every key. A write is refused only when the policy finds nothing more
to evict; the estimate is trusted until the next sample.

Policies: ``noeviction`` (the default) refuses denyoom commands with OOM. ``volatile-ttl`` evicts
the key with the nearest deadline among ``TTL_SAMPLES`` random keys that have one (all of them
when they are fewer), as Redis samples. ``allkeys-random`` and
``volatile-random`` pick at random. kvserver keeps no per-key access times, so the ``lru`` and
``lfu`` policies are accepted and evict at random among the same keys.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from kvserver.zset import ZSet

if TYPE_CHECKING:
    from kvserver.config import Config
    from kvserver.keyspace import Keyspace
    from kvserver.state import Stats

SAMPLE_SECONDS: Final = 0.005
TRIM_SECONDS: Final = 0.05  # malloc_trim walks the heap: at most this often
TTL_SAMPLES: Final = 16  # volatile-ttl evicts the nearest deadline among this many keys (Redis: 5, and a pool)


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0): hand the heap's free pages back to the OS (a no-op elsewhere)."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


trim_heap = _malloc_trim()
_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """The resident set size of this process."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:  # not Linux: the peak RSS is the best cheap figure
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


Sizer = Callable[[Any, int | None], int]
_SIZERS: dict[type, Sizer] = {}


def register_size(kind: type, sizer: Sizer) -> None:
    """How to size a value of type ``kind`` beyond ``sys.getsizeof``: ``sizer(value, samples)``
    gives the bytes of what it owns, extrapolated from ``samples`` elements (None: all of them).
    Used by the eviction estimate here and by MEMORY USAGE; a type registers once."""
    _SIZERS[kind] = sizer


def contents_size(value: object, samples: int | None) -> int:
    """The registered sizer's answer for ``value``, 0 for a type that registered none."""
    sizer = _SIZERS.get(type(value))
    return 0 if sizer is None else sizer(value, samples)


def estimate_size(key: bytes, value: object) -> int:
    """Roughly the bytes freed by deleting ``key``: the objects it owns (O(n) for containers)."""
    size = sys.getsizeof(key) + sys.getsizeof(value) + 100  # + the keyspace dict's entry
    if type(value) is dict:
        size += sum(sys.getsizeof(f) + sys.getsizeof(v) for f, v in value.items())
    elif type(value) is set or type(value) is deque:
        size += sum(sys.getsizeof(member) for member in value)
    elif type(value) is ZSet:
        size += sys.getsizeof(value.scores) + sum(sys.getsizeof(m) + 96 for m in value.scores)
    else:
        size += contents_size(value, None)
    return size


class EvictionTarget(Protocol):
    """What eviction needs of the database (kvserver.database.Database provides it)."""

    keyspace: Keyspace
    config: Config
    stats: Stats

    def propagate(self, argv: list[bytes], touched: list[bytes] | None = None) -> None: ...


class MemoryMeter:
    """Sampled memory use, the eviction credit, and the eviction itself."""

    def __init__(self, sample: Callable[[], int] = rss_bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.sample = sample
        self.clock = clock
        self._rss = 0
        self._sampled_at = float("-inf")
        self.credit = 0  # estimated bytes evicted that the RSS does not show yet
        self._trimmed_at = float("-inf")
        self._candidates: list[bytes] = []  # a snapshot of the keys, for allkeys-* picks

    def used(self) -> int:
        now = self.clock()
        if now - self._sampled_at >= SAMPLE_SECONDS:
            self._sampled_at = now
            rss = self.sample()
            if rss > self._rss:
                self.credit = 0  # the allocator had to grow: the freed memory is in use again
            else:
                self.credit = max(0, self.credit - (self._rss - rss))
            self._rss = rss
        return max(0, self._rss - self.credit)

    def rss(self) -> int:
        self.used()
        return self._rss

    def over_limit(self, db: EvictionTarget) -> bool:
        """True if memory is over ``maxmemory`` even after evicting what the policy allows."""
        limit = db.config.maxmemory
        if self.used() <= limit:
            return False
        policy = db.config.maxmemory_policy
        if policy == "noeviction":
            return True
        self._sampled_at = float("-inf")  # evict by a fresh figure, not one up to a sample old
        excess = self.used() - limit
        freed = 0
        ks = db.keyspace
        while freed < excess:
            key = self._victim(ks, policy)
            if key is None:
                break
            freed += estimate_size(key, ks.data[key])
            if ks.delete(key):  # (an already expired key is expired instead, and logged so)
                db.stats.evicted_keys += 1
                db.propagate([b"DEL", key], [])  # announced as evicted, not as a DEL's key
                ks.changed("evicted", key)
        self.credit += freed
        now = self.clock()
        if freed and now - self._trimmed_at >= TRIM_SECONDS:
            # give the heap's free pages back so the RSS shows what was freed (big values, mostly);
            # the next sample sees the fall and takes it off the credit
            self._trimmed_at = now
            trim_heap()
            self._sampled_at = float("-inf")
        return freed < excess  # refused only when the policy found nothing more to evict

    def _victim(self, ks: Keyspace, policy: str) -> bytes | None:
        if policy.startswith("volatile"):
            if not ks.expires:
                return None
            if policy == "volatile-ttl":  # as Redis: the nearest deadline of a sample
                sample = ks.volatile_sample(TTL_SAMPLES)
                return min(sample, key=ks.expires.__getitem__) if sample else next(iter(ks.expires))
            sample = ks.volatile_sample(1)
            return sample[0] if sample else next(iter(ks.expires))
        candidates = self._candidates
        data = ks.data
        for _ in range(2):
            while candidates:
                j = random.randrange(len(candidates))
                candidates[j], candidates[-1] = candidates[-1], candidates[j]
                key = candidates.pop()
                if key in data:
                    return key
            if not data:
                return None
            # one O(n) snapshot serves many evictions; keys written after it wait for the next
            candidates.extend(data)
        return None


__all__ = ["EvictionTarget", "MemoryMeter", "contents_size", "estimate_size", "register_size", "rss_bytes"]
