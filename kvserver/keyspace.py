"""The data: a dict from key to value, plus expiry deadlines and the keys that have one.

Deadlines are absolute wall-clock milliseconds (they are persisted), in ``expires`` (key ->
deadline, for O(1) checks on access). ``volatile`` lists the keys in the order they gained a
deadline, with stale slots as ``order`` below (8 bytes a key: no sorted index, whose
``(deadline, key)`` tuples cost about 80 bytes a key). A run of equal deadlines (a bulk load, or
many writes in one millisecond) shares one int object.

An expired key is never returned: every access checks the deadline and removes the key (lazy
expiry; a write over it too: it is expired, then created anew), and ``purge_expired`` removes
keys nobody reads (active expiry). The active expiry is Redis's: it walks ``volatile`` from a
cursor that goes round, a batch of slots at a time, and removes the due keys it meets; the
server keeps walking while a batch finds more than a tenth of it due, so a mass expiry is
removed at full speed while a keyspace of live deadlines costs a bounded walk per cron tick. An
expired key that nobody reads is removed when the walk reaches it: memory held by expired keys
is bounded as Redis's is (a tenth of the walked keys, roughly), not by an exact deadline order.
While ``loading`` is set (log replay) nothing expires, because the log already records every
deletion in its place; ``volatile`` is built in one pass when loading ends.

SCAN and RANDOMKEY walk ``order``, an append-only list of keys in creation order: a key is
appended when it becomes present (a new key; a deleted then recreated key gets a second slot).
A slot is live while its key is present; deleted keys leave stale slots. When stale slots
outnumber live keys the list is compacted to ``list(data)`` (a dict keeps the order of last
creation) and the epoch advances; for the last ``EPOCHS_KEPT`` compactions the keyspace keeps
live-slot counts sampled every ``SAMPLE`` slots, so a cursor from before a compaction maps to a
position that can only be at or before where it was: duplicates, never a miss. No state per
cursor is kept on the server; the list costs one pointer per slot.

Compaction never pauses the server for a big list: a list of up to ``COMPACT_AT_ONCE`` slots is
compacted in one go (well under a millisecond); a longer one in steps of ``COMPACT_STEP`` slots,
driven by the removals that make slots stale and by ``maintain`` (the server's cron), while the
old list is still used and appended to. A step keeps a slot if its key is present and was not
kept already (a recreated key keeps its first live slot, a cursor past it returned it already).

The change signal: every ``KeyListener`` subscribed to a keyspace hears about each key it stores
(``NEW``, ``OVERWRITTEN``), removes (``DEL``, ``EXPIRED``) or clears (``flushed``, before the keys
go); the dispatcher right above adds the in-place changes a command makes to a value it holds,
with the command's name as the event (``changed``), and the keys a command is about to write
(``writing``, for the rewrite's copy-on-write). WATCH, blocked clients and the rewrite subscribe
only while they need to, so with nobody subscribed a write pays one empty-list test. The events
are (name, key) pairs, as Redis's keyspace notifications need; one Keyspace is one database.
"""

from __future__ import annotations

import gc
import random
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final, cast

from kvserver.native import mypyc_attr


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


SAMPLE: Final = 64  # slots per live-count sample kept at a compaction
EPOCHS_KEPT: Final = 8  # compactions an old cursor survives (older ones restart the scan)
_POS_BITS: Final = 30  # a cursor: position, end (in SAMPLE units) and epoch in 64 bits
_END_BITS: Final = 24
_EPOCH_BITS: Final = 10
_MAX_SLOTS: Final = 1 << _POS_BITS
SCAN_WALK: Final = 10  # a SCAN call looks at no more than COUNT * SCAN_WALK slots
COMPACT_AT_ONCE: Final = 1 << 12  # a list up to this many slots is compacted in one go (< 1 ms)
COMPACT_STEP: Final = 8 * 64  # slots a compaction step of the cron looks at
REMOVAL_CREDIT: Final = 4  # slots of compaction (and freeing) a removal pays for


# events of the change signal (Redis's keyspace-notification names where it has one)
NEW: Final = "new"  # a key was created
OVERWRITTEN: Final = "overwritten"  # a key's value was replaced by another
DEL: Final = "del"  # a key was removed by a command (or by eviction)
EXPIRED: Final = "expired"  # a key was removed because its deadline passed (lazily or actively)


@mypyc_attr(allow_interpreted_subclasses=True)
class KeyListener:
    """A subscriber to a keyspace's change signal; each method is a no-op unless overridden.

    ``key_changed`` comes after the change, ``writing`` before a command writes ``key`` (the
    old value is still there), ``flushed`` before FLUSHALL removes every key.
    """

    def key_changed(self, event: str, key: bytes) -> None:
        pass

    def writing(self, key: bytes) -> None:
        pass

    def flushed(self, keyspace: Keyspace) -> None:
        pass


class Remap:
    """How positions of one epoch's list map into the next, compacted one."""

    __slots__ = ("dups", "live")

    def __init__(self, live: array[int] | None, dups: int) -> None:
        self.live = live  # live[i]: live slots before slot i * SAMPLE; None: the list was cleared
        self.dups = dups  # live slots that are not their key's last one (not kept by compaction)

    def lower(self, pos: int) -> int:
        """A position in the new list at or before every key that was at or after ``pos``."""
        if self.live is None:
            return 0
        return max(0, self.live[min(pos // SAMPLE, len(self.live) - 1)] - self.dups)

    def upper(self, end: int) -> int:
        """A position in the new list after every key that was before ``end``."""
        if self.live is None:
            return 0
        return self.live[min(-(-end // SAMPLE), len(self.live) - 1)]


class Compaction:
    """One compaction of a list of keys in progress: the slots of ``old`` whose key is in
    ``live`` are copied to ``kept``, ``SAMPLE`` slots at a time; ``counts[i]`` is how many were
    kept before slot ``i * SAMPLE`` (a ``Remap``'s ``live``, with no dups).

    A recreated key can have two live-looking slots; with ``dedupe`` only its first is kept (a
    set of the keys kept: its growth costs pauses of its own on a big list, so it is used only
    when the previous compaction of the list left many such slots, or on a short list)."""

    __slots__ = ("counts", "kept", "live", "old", "pos", "seen")

    def __init__(self, old: list[bytes], live: dict[bytes, Any], dedupe: bool) -> None:
        self.old = old
        self.live = live
        self.pos = 0
        self.kept: list[bytes] = []
        self.seen: set[bytes] | None = set() if dedupe else None
        self.counts = array("q", [0])

    def step(self, slots: int) -> bool:
        """Copy the next ``slots`` slots or more (whole samples); True once ``old`` is done."""
        old, live, kept, seen, counts = self.old, self.live, self.kept, self.seen, self.counts
        pos = self.pos
        stop = pos + slots
        while pos < stop:
            chunk = old[pos : pos + SAMPLE]
            if seen is None:
                kept += filter(live.__contains__, chunk)
            else:
                for key in chunk:
                    if key in live and key not in seen:
                        seen.add(key)
                        kept.append(key)
            pos += len(chunk)
            if len(chunk) < SAMPLE:  # the end of the list (keys appended meanwhile included)
                self.pos = pos
                if chunk:
                    counts.append(len(kept))
                return True
            counts.append(len(kept))
        self.pos = pos
        return pos >= len(old)

    def remap(self) -> Remap:
        return Remap(self.counts, 0)


def _many_dups(kept: list[bytes], live: dict[bytes, Any]) -> bool:
    """A compaction kept more than a quarter more slots than live keys (recreated keys' second
    slots, or keys removed meanwhile): the next one dedupes."""
    return len(kept) > len(live) + len(live) // 4 + SAMPLE


LFU_INIT_VAL: Final = 5  # a new key's access frequency counter (Redis's)
LFU_LOG_FACTOR: Final = 10  # Redis's defaults of lfu-log-factor and lfu-decay-time (minutes)
LFU_DECAY_TIME: Final = 1


class Keyspace:
    __slots__ = (
        "_compacting",
        "_compacting_volatile",
        "_credit",
        "_cursor",
        "_dedupe",
        "_graveyard",
        "_last_deadline",
        "access",
        "clock",
        "compact_slack",
        "data",
        "epoch",
        "expires",
        "lfu",
        "listeners",
        "loading",
        "on_expire",
        "order",
        "origin",
        "remaps",
        "stamp",
        "volatile",
    )

    def __init__(
        self,
        clock: Callable[[], int] = wall_clock_ms,
        compact_slack: int = 1024,
        on_expire: Callable[[bytes], None] | None = None,
    ) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self.volatile: list[bytes] = []  # keys in the order they gained a deadline, stale slots too
        self._cursor = 0  # the active expiry's position in ``volatile``
        # the int object a run of equal deadlines shares (typed ``object``: compiled, an ``int``
        # would be unboxed, and each key given a new int boxed out of it)
        self._last_deadline: Any = None
        self.clock = clock
        self.loading = False
        self.on_expire = on_expire  # the owner logs a DEL for an expired key (before listeners hear)
        self.listeners: list[KeyListener] = []  # the change signal's subscribers (see above)
        self.order: list[bytes] = []  # keys in creation order, with stale slots (see above)
        self.compact_slack = compact_slack  # stale slots always tolerated (small keyspaces)
        # compactions of ``order``, from a random start: a cursor of another process (before a
        # restart) is then almost surely unknown, and restarts its scan
        self.epoch = random.randrange(1 << _EPOCH_BITS)
        self.remaps: dict[int, Remap] = {}  # epoch -> its map into epoch + 1, the last few only
        self._compacting: Compaction | None = None  # of ``order``, in steps (a long list)
        self._compacting_volatile: Compaction | None = None
        self._graveyard: list[list[bytes] | set[bytes]] = []  # old lists, freed a step at a time
        self._credit = 0  # slots of compaction the removals paid for, not yet done
        self._dedupe = 0  # bit 0: the next compaction of ``order`` dedupes, bit 1: of ``volatile``
        # OBJECT IDLETIME / FREQ: each key's last access (``stamp``), or with an LFU policy
        # (``lfu``) its minute of last access << 8 | its logarithmic access counter, as Redis's
        # 24 bits of ``robj.lru``; a key without an entry (loaded by the replay, or kept across a
        # change of policy) was last accessed at ``origin``, with the initial counter
        self.access: dict[bytes, int] = {}
        self.lfu = False
        self.stamp = int(time.monotonic())  # the access clock, in seconds: the server's cron moves it
        self.origin = self.stamp

    def __len__(self) -> int:
        return len(self.data)

    # --- the change signal ---------------------------------------------------------------------

    # ``listeners`` is one list for the keyspace's lifetime (the dispatcher holds it too); a
    # listener never (un)subscribes from inside one of its callbacks.

    def subscribe(self, listener: KeyListener) -> None:
        if listener not in self.listeners:
            self.listeners.append(listener)

    def unsubscribe(self, listener: KeyListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def changed(self, event: str, key: bytes) -> None:
        """Announce a change to ``key`` (the keyspace's own writes call this too)."""
        for listener in self.listeners:
            listener.key_changed(event, key)

    def writing(self, key: bytes) -> None:
        """Announce that ``key`` is about to be written (its current value is still there)."""
        for listener in self.listeners:
            listener.writing(key)

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
        if self.lfu:  # an LFU policy counts the access instead of stamping it
            self._count_access(key)
        else:
            self.access[key] = self.stamp
        return value

    def peek(self, key: bytes) -> object | None:
        """``get`` without counting an access (TTL, TYPE, EXISTS, OBJECT: Redis's LOOKUP_NOTOUCH)."""
        value = self.data.get(key)
        if value is None:
            return None
        deadline = self.expires.get(key)
        if deadline is not None and deadline <= self.clock() and not self.loading:
            self._expire(key)
            return None
        return value

    def deadline(self, key: bytes) -> int | None:
        """The deadline of a live key, or None if it has none (check existence first)."""
        return self.expires.get(key)

    # --- access times ----------------------------------------------------------------------------

    def _count_access(self, key: bytes) -> None:
        """LFU: decay the key's counter by the minutes since its last access, then count this one
        with Redis's probability (1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1))."""
        minutes = self.stamp // 60
        counter = self._decayed(key, minutes)
        if counter < 255:
            base = max(counter - LFU_INIT_VAL, 0)
            if random.random() < 1.0 / (base * LFU_LOG_FACTOR + 1):
                counter += 1
        self.access[key] = ((minutes & 0xFFFF) << 8) | counter

    def _decayed(self, key: bytes, minutes: int) -> int:
        packed = self.access.get(key)
        if packed is None:
            return LFU_INIT_VAL
        elapsed = ((minutes & 0xFFFF) - (packed >> 8)) & 0xFFFF  # 16-bit minutes wrap, as Redis
        return max((packed & 0xFF) - elapsed // LFU_DECAY_TIME, 0)

    def idle_time(self, key: bytes) -> int:
        """Seconds since ``key`` was last accessed (an LRU policy or none: OBJECT IDLETIME)."""
        return max(self.stamp - self.access.get(key, self.origin), 0)

    def frequency(self, key: bytes) -> int:
        """The key's access counter, decayed to now (an LFU policy: OBJECT FREQ)."""
        return self._decayed(key, self.stamp // 60)

    def set_access(self, key: bytes, idle: int | None = None, freq: int | None = None) -> None:
        """RESTORE ... IDLETIME / FREQ: the key was last accessed ``idle`` seconds ago, or has
        the access counter ``freq`` (each applies only under the policy that tracks it)."""
        if self.lfu and freq is not None:
            self.access[key] = (((self.stamp // 60) & 0xFFFF) << 8) | min(max(freq, 0), 255)
        elif not self.lfu and idle is not None:
            self.access[key] = self.stamp - max(idle, 0)

    def track_frequency(self, lfu: bool) -> None:
        """maxmemory-policy changed to or from an LFU one: the other kind of access data is
        forgotten (Redis reinterprets it; either way it takes time to mean something again).

        From then on ``get`` counts accesses (one test of the flag: the keyspace is a compiled
        class, whose ``__class__`` can't be swapped for a subclass that counts).
        """
        if lfu != self.lfu:
            self.lfu = lfu
            self.access.clear()
            self.origin = self.stamp

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
        """A random live key: O(1) expected, from a random slot of ``order`` (live >= half)."""
        data = self.data
        order = self.order
        for _ in range(32):
            if not data:
                return None
            key = order[random.randrange(len(order))]
            if key in data and self.get(key) is not None:
                return key
        for _ in range(100):  # a small keyspace with many stale slots, or mostly expired keys
            if not data:
                return None
            key = next(islice(iter(data), random.randrange(len(data)), None))
            if self.get(key) is not None:
                return key
        return None

    # --- SCAN ----------------------------------------------------------------------------------

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Up to ``count`` keys from the slots after ``cursor`` (0: a new scan), and the next cursor.

        Every key present from the first call to the last is returned at least once; at most
        ``count * SCAN_WALK`` slots are looked at per call, so a call costs O(count) whatever
        the keyspace holds. Keys created after the scan began are not waited for. Expired keys
        are returned (the caller checks them).
        """
        pos, end = self._decode(cursor)
        order = self.order
        data = self.data
        stop = min(end, len(order), pos + count * SCAN_WALK)
        found: list[bytes] = []
        while pos < stop:
            key = order[pos]
            pos += 1
            if key in data:
                found.append(key)
                if len(found) >= count:
                    break
        if pos >= min(end, len(order)):
            return 0, found
        return self._encode(pos, end), found

    def _encode(self, pos: int, end: int) -> int:
        chunks = min(-(-end // SAMPLE), (1 << _END_BITS) - 1)
        epoch = self.epoch & ((1 << _EPOCH_BITS) - 1)
        return (pos << (_END_BITS + _EPOCH_BITS)) | (chunks << _EPOCH_BITS) | epoch

    def _decode(self, cursor: int) -> tuple[int, int]:
        """A cursor's (position, end) in the current list; a start for 0 or a too old cursor."""
        if cursor == 0:
            return 0, len(self.order)
        tag = cursor & ((1 << _EPOCH_BITS) - 1)
        end = ((cursor >> _EPOCH_BITS) & ((1 << _END_BITS) - 1)) * SAMPLE
        pos = cursor >> (_END_BITS + _EPOCH_BITS)
        age = (self.epoch - tag) & ((1 << _EPOCH_BITS) - 1)
        for epoch in range(self.epoch - age, self.epoch):
            remap = self.remaps.get(epoch)
            if remap is None:  # older than the maps kept: start again (duplicates only)
                return 0, len(self.order)
            pos, end = remap.lower(pos), remap.upper(end)
        return pos, end

    # ``order`` is list 1, ``volatile`` list 2 (the bits of ``_dedupe``)

    def _compact(self, which: int) -> None:
        """Drop the stale slots of a list: at once for a short one, else start the steps."""
        old, live = (self.order, self.data) if which == 1 else (self.volatile, self.expires)
        at_once = len(old) <= COMPACT_AT_ONCE or len(old) >= _MAX_SLOTS
        compaction = Compaction(old, live, at_once or bool(self._dedupe & which))
        if at_once:
            compaction.step(len(old))
            self._swap(compaction, which)
            return
        # The new list (and set) will hold up to every live key. Born in the youngest generation,
        # it could grow there to its full size before the next young collection (the steps
        # allocate nothing that lives), which would then walk it, a cache miss a slot: 40 ms for
        # 450k keys, and once more in the middle generation. Moved to the old one while empty.
        gc.collect(1)
        if which == 1:
            self._compacting = compaction
        else:
            self._compacting_volatile = compaction

    def _step(self, compaction: Compaction, which: int, slots: int) -> None:
        if compaction.step(slots):
            self._swap(compaction, which)

    def _swap(self, compaction: Compaction, which: int) -> None:
        """A compaction is done: its list replaces the old one."""
        if which == 1:
            self._compacting = None
            self._next_epoch(compaction.remap())  # the cursors of the old list map into the new one
            self.order = compaction.kept
        else:
            self._compacting_volatile = None
            self._cursor = compaction.remap().lower(self._cursor)
            self.volatile = compaction.kept
        self._dedupe = self._dedupe & ~which | (which if _many_dups(compaction.kept, compaction.live) else 0)
        self._bury(compaction)

    def _bury(self, compaction: Compaction) -> None:
        """Freeing a list of a million slots at once is itself a pause (a reference count
        touched per slot): a long old list is emptied a step at a time (``_release``)."""
        if len(compaction.old) > COMPACT_AT_ONCE:
            self._graveyard.append(compaction.old)
        if compaction.seen is not None and len(compaction.seen) > COMPACT_AT_ONCE:
            self._graveyard.append(compaction.seen)

    def _release(self, slots: int) -> None:
        graveyard = self._graveyard
        while graveyard and slots > 0:
            old = graveyard[-1]
            n = min(slots, len(old))
            if isinstance(old, list):
                del old[len(old) - n :]
            else:
                for _ in range(n):
                    old.pop()
            slots -= n
            if not old:
                graveyard.pop()

    def maintain(self, slots: int = COMPACT_STEP) -> None:
        """A step of the compactions in progress (the server's cron calls it, so a compaction
        finishes even when nothing is removed)."""
        self._release(slots)
        if self._compacting is not None:
            self._step(self._compacting, 1, slots)
        if self._compacting_volatile is not None:
            self._step(self._compacting_volatile, 2, slots)

    def _next_epoch(self, remap: Remap) -> None:
        self.remaps[self.epoch] = remap
        self.remaps.pop(self.epoch - EPOCHS_KEPT, None)
        self.epoch += 1

    # --- writes --------------------------------------------------------------------------------

    def set(self, key: bytes, value: object, deadline: int | None = None) -> None:
        """Store ``value``; the key's deadline becomes ``deadline`` (None: no expiry)."""
        data = self.data
        new = key not in data
        if not new and key in self.expires:
            new = self._expire_if_due(key)
        if new:
            self.order.append(key)
            self._created(key)
        data[key] = value
        if deadline is not None or key in self.expires:
            self.set_deadline(key, deadline)
        if self.listeners:  # (literals, not the module's names: no global lookup per write)
            self.changed("new" if new else "overwritten", key)

    def set_keep_ttl(self, key: bytes, value: object) -> None:
        """Replace the value of a key, keeping its deadline if it has one."""
        data = self.data
        new = key not in data
        if not new and key in self.expires:
            new = self._expire_if_due(key)
        if new:
            self.order.append(key)
            self._created(key)
        data[key] = value
        if self.listeners:  # (literals, not the module's names: no global lookup per write)
            self.changed("new" if new else "overwritten", key)

    def _created(self, key: bytes) -> None:
        """A new key was just accessed (an LFU counter starts at LFU_INIT_VAL)."""
        if self.lfu:
            self.access[key] = (((self.stamp // 60) & 0xFFFF) << 8) | LFU_INIT_VAL
        else:
            self.access[key] = self.stamp

    def set_deadline(self, key: bytes, deadline: int | None) -> None:
        """Change the deadline of an existing key (None removes it)."""
        expires = self.expires
        old = expires.get(key)
        if old is None:
            if deadline is None:
                return
            if not self.loading:  # (``volatile`` is built when loading ends)
                self.volatile.append(key)
        elif deadline is None:
            del expires[key]
            self._maybe_compact()  # its slot in ``volatile`` is stale now
            return
        elif old == deadline:
            return
        # One int object for a run of equal deadlines. It is handled as ``Any`` throughout:
        # compiled, an ``int`` (even one narrowed from ``object``) is unboxed, and each store
        # would box a new int out of it.
        given: Any = deadline
        shared: Any = self._last_deadline
        if shared != given:
            shared = self._last_deadline = given
        cast("dict[bytes, Any]", expires)[key] = shared

    def delete(self, key: bytes) -> bool:
        """Remove a key; True if a live key was removed."""
        if key not in self.data:
            return False
        deadline = self.expires.get(key)
        if deadline is not None and deadline <= self.clock() and not self.loading:
            self._expire(key)
            return False
        self._remove(key)
        if self.listeners:
            self.changed(DEL, key)
        return True

    def clear(self) -> None:
        """Remove every key (FLUSHALL); listeners hear ``flushed`` first, while the keys are there."""
        for listener in self.listeners:
            listener.flushed(self)
        self.data.clear()
        self.expires.clear()
        self.access.clear()
        self.volatile = []
        self._cursor = 0
        self._compacting = self._compacting_volatile = None
        self.order = []
        self._next_epoch(Remap(None, 0))  # every open scan ends: no key was present throughout

    # --- expiry --------------------------------------------------------------------------------

    def purge_expired(self, now: int, limit: int) -> int:
        """Look at the next ``limit`` slots of ``volatile`` (from the cursor, round to the start,
        each slot at most once) and remove the keys whose deadline is at or before ``now``;
        return how many were removed. ``limit`` >= ``len(volatile)`` removes every due key."""
        volatile = self.volatile
        size = len(volatile)
        if self.loading or not size:
            return 0
        pos = self._cursor if self._cursor < size else 0
        end = pos + min(limit, size)
        slots = volatile[pos:end]
        if end > size:
            slots += volatile[: end - size]
        self._cursor = end if end < size else end - size
        data = self.data
        expires = self.expires
        hook = self.on_expire
        access = self.access
        removed = 0
        for key in slots:
            deadline = expires.get(key)
            if deadline is None or deadline > now:
                continue
            del data[key]
            del expires[key]
            access.pop(key, None)
            removed += 1
            if hook is not None:
                hook(key)
            if self.listeners:
                self.changed(EXPIRED, key)
        if removed:
            self._maybe_compact(removed)
        return removed

    def volatile_sample(self, count: int) -> list[bytes]:
        """Up to ``count`` random keys that have a deadline (all of them if they are few), for
        the volatile-* eviction policies; live keys only, possibly repeated."""
        volatile = self.volatile
        expires = self.expires
        if len(volatile) <= count:
            return [key for key in dict.fromkeys(volatile) if key in expires]
        found: list[bytes] = []
        for _ in range(count * 8):  # at least half the slots are live
            key = volatile[random.randrange(len(volatile))]
            if key in expires:
                found.append(key)
                if len(found) >= count:
                    break
        return found

    def _expire_if_due(self, key: bytes) -> bool:
        """A write over a key whose deadline passed expires it first (as Redis's lookup does):
        True if it did, so the write creates the key anew."""
        if self.expires[key] <= self.clock() and not self.loading:
            self._expire(key)
            return True
        return False

    def _expire(self, key: bytes) -> None:
        self._remove(key)
        if self.on_expire is not None:
            self.on_expire(key)
        if self.listeners:
            self.changed(EXPIRED, key)

    def _remove(self, key: bytes) -> None:
        del self.data[key]
        self.access.pop(key, None)
        self.expires.pop(key, None)
        self._maybe_compact()

    def _maybe_compact(self, removed: int = 1) -> None:
        """After removals: start a compaction when stale slots outnumber the live ones, and pay
        ``REMOVAL_CREDIT`` slots a removal of the steps in progress (a whole step at a time)."""
        if self.loading:  # finish_loading rebuilds the lists once
            return
        if self._compacting is None and self._compacting_volatile is None and not self._graveyard:
            if len(self.order) > 2 * len(self.data) + self.compact_slack or len(self.order) >= _MAX_SLOTS:
                self._compact(1)
            if len(self.volatile) > 2 * len(self.expires) + self.compact_slack:
                self._compact(2)
            return
        self._credit += REMOVAL_CREDIT * removed
        if self._credit >= SAMPLE:
            slots, self._credit = self._credit, 0
            self.maintain(slots)

    # --- loading -------------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Log replay: nothing expires, and ``volatile`` is left alone until ``finish_loading``."""
        self.loading = True

    def finish_loading(self) -> None:
        """Build ``volatile`` and ``order`` in one pass each (replay's fast path stores into
        ``data`` and ``expires`` directly)."""
        self.loading = False
        self.volatile = list(self.expires)
        self._cursor = 0
        self._compacting = self._compacting_volatile = None
        self.order = list(self.data)
        self.remaps.clear()
        self.epoch += 1


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
