"""The stream value: entries ordered by id, consumer groups and their pending entries. No I/O.

An id is Redis's 128-bit ``ms-seq`` pair, held as one int (``ms << 64 | seq``) so comparisons
are integer comparisons. The entries are a ``SortedList`` of ids plus a dict from id to the
entry's flat field/value list: a range query is a bisection and a walk of the answer, a trim
from the front is a slice deletion, O(log n + m) as Redis's radix tree of listpacks.

Redis's listpack *nodes* are kept as bookkeeping only (``Node``: the first id, the live and the
total entries, an estimate of the bytes), because the approximate trims (``MAXLEN ~``, ``MINID
~``) remove whole nodes and stop at the first node they cannot remove whole, and the length they
leave is what clients see. A node is closed, as in Redis, once it holds
``stream-node-max-entries`` entries (deleted ones included) or its estimated size reaches
``stream-node-max-bytes``; an XDEL that empties a node removes it.

A consumer group keeps its last delivered id, its ``entries_read`` counter (7.0's lag), its
pending entries (``pel``: id -> ``Nack``, sorted) and its consumers (name -> ``Consumer``,
each with its own sorted pel sharing the ``Nack`` objects).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import Final

from sortedcontainers import SortedDict, SortedList

Fields = tuple[bytes, ...]  # an entry's fields and values, alternating
MAX64: Final = (1 << 64) - 1
MAX_ID: Final = (1 << 128) - 1
INVALID_ENTRIES_READ: Final = -1  # Redis's SCG_INVALID_ENTRIES_READ
_NUMERIC_HEAD: Final = b"-0123456789"  # (b"" is in it too: an empty value takes the slow path)


def make_id(ms: int, seq: int) -> int:
    return ms << 64 | seq


def format_id(stream_id: int) -> bytes:
    return b"%d-%d" % (stream_id >> 64, stream_id & MAX64)


def parse_id(raw: bytes, missing_seq: int = 0, strict: bool = False) -> int | None:
    """``ms-seq`` or ``ms`` (seq ``missing_seq``); ``-`` and ``+`` unless ``strict``; None if invalid."""
    ms_raw, dash, seq_raw = raw.partition(b"-")
    # the usual ids (plain digits, up to 19 of them: below 2**64) without the general checks
    if len(ms_raw) < 20 and len(seq_raw) < 20 and ms_raw.isdigit() and (seq_raw.isdigit() or not dash):
        return int(ms_raw) << 64 | (int(seq_raw) if dash else missing_seq)
    if len(raw) > 127:
        return None
    if raw == b"-":
        return None if strict else 0
    if raw == b"+":
        return None if strict else MAX_ID
    ms = _u64(ms_raw)
    if ms is None:
        return None
    if not dash:
        return ms << 64 | missing_seq
    seq = _u64(seq_raw)
    if seq is None:
        return None
    return ms << 64 | seq


def _u64(raw: bytes) -> int | None:
    """Redis's string2ull, i.e. strtoull in the end: leading white space and a '+' are allowed,
    leading zeros too; nothing may follow the digits; at most 2**64 - 1."""
    if not raw.isdigit():
        raw = raw.lstrip(b" \t\n\v\f\r")
        if raw[:1] == b"+":
            raw = raw[1:]
        if not raw.isdigit():
            return None
    digits = raw.lstrip(b"0")
    if len(digits) > 20:  # (before int(): its cost grows with the square of the digits)
        return None
    value = int(digits or b"0")
    return value if value <= MAX64 else None


class Node:
    """A listpack node's bookkeeping (see the module's docstring)."""

    __slots__ = ("first", "live", "master", "size", "total")

    def __init__(self, first: int, master: list[bytes]) -> None:
        self.first = first  # the id of its first entry (its radix tree key)
        self.master = master  # the master entry's field names (its first entry's)
        self.live = 0  # entries not deleted
        self.total = 0  # entries ever appended, deleted ones included
        self.size = 0  # estimated bytes


class Consumer:
    __slots__ = ("name", "pel", "seen_time")

    def __init__(self, name: bytes, seen_time: int) -> None:
        self.name = name
        self.seen_time = seen_time
        self.pel: SortedDict = SortedDict()  # id -> Nack


class Nack:
    """A pending entry: delivered to ``consumer`` and not acknowledged yet."""

    __slots__ = ("consumer", "delivery_count", "delivery_time")

    def __init__(self, consumer: Consumer | None, delivery_time: int, delivery_count: int = 1) -> None:
        self.consumer = consumer
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class Group:
    __slots__ = ("consumers", "entries_read", "last_id", "pel")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: SortedDict = SortedDict()  # id -> Nack
        self.consumers: dict[bytes, Consumer] = {}

    def consumer(self, name: bytes, now: int) -> tuple[Consumer, bool]:
        """The named consumer (its seen time refreshed), created if missing: (it, created)."""
        consumer = self.consumers.get(name)
        if consumer is not None:
            consumer.seen_time = now
            return consumer, False
        consumer = self.consumers[name] = Consumer(name, now)
        return consumer, True

    def delete_consumer(self, name: bytes) -> int:
        """Remove a consumer and its pending entries; how many it had (0 if it was missing)."""
        consumer = self.consumers.pop(name, None)
        if consumer is None:
            return 0
        for stream_id in consumer.pel:
            del self.pel[stream_id]
        return len(consumer.pel)

    def ack(self, stream_id: int) -> bool:
        nack = self.pel.pop(stream_id, None)
        if nack is None:
            return False
        if nack.consumer is not None:
            nack.consumer.pel.pop(stream_id, None)
        return True

    def assign(self, stream_id: int, nack: Nack, consumer: Consumer) -> None:
        """Make ``consumer`` the owner of the pending entry ``nack``."""
        if nack.consumer is not consumer:
            if nack.consumer is not None:
                nack.consumer.pel.pop(stream_id, None)
            consumer.pel[stream_id] = nack
            nack.consumer = consumer


class Stream:
    __slots__ = (
        "entries",
        "entries_added",
        "first_id",
        "groups",
        "ids",
        "last_id",
        "max_deleted_id",
        "node_firsts",
        "nodes",
    )

    def __init__(self) -> None:
        self.ids: SortedList = SortedList()
        # (tuples of bytes: the garbage collector untracks them, so a big stream costs its
        # full collections nothing per entry, where lists would be walked every time)
        self.entries: dict[int, Fields] = {}
        self.nodes: list[Node] = []
        self.node_firsts: list[int] = []  # nodes[i].first, for bisection
        self.last_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.first_id = 0  # the "recorded first entry id" (0 when empty)
        self.groups: dict[bytes, Group] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Stream)
            and self.entries == other.entries
            and self.last_id == other.last_id
            and self.entries_added == other.entries_added
            and self.max_deleted_id == other.max_deleted_id
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    # --- ids -----------------------------------------------------------------------------------

    def next_id(self, now_ms: int) -> int | None:
        """The id ``*`` gives now; None when the last possible id was used."""
        last = self.last_id
        if last == MAX_ID:
            return None
        if now_ms > last >> 64:
            return now_ms << 64
        return last + 1  # (seq overflowing into ms is the same addition)

    def id_for_ms(self, ms: int) -> int | None:
        """The id ``ms-*`` gives; None if it can't be greater than the last id."""
        last = self.last_id
        if ms == last >> 64:
            if last & MAX64 == MAX64:
                return None
            return last + 1
        candidate = ms << 64
        return candidate if candidate > last else None

    def last_entry_id(self) -> int:
        """The id of the last entry (0 when empty): streamLastValidID."""
        return self.ids[-1] if self.ids else 0

    # --- updates -------------------------------------------------------------------------------

    def append(self, stream_id: int, fields: list[bytes], node_max_entries: int, node_max_bytes: int) -> None:
        """Add an entry with an id greater than ``last_id`` (the caller checked it).

        The entry goes into the last node unless that one is full, as in streamAppendItem: its
        listpack bytes plus the entry's raw length reach ``node_max_bytes``, or it holds
        ``node_max_entries`` entries. The listpack's bytes are counted as Redis lays the node
        out (a master entry with the first entry's field names; per entry its flags, id deltas,
        values, field names when they differ from the master's, and its element count), with
        every element a string (Redis stores integer-looking strings in fewer bytes)."""
        size = sum(map(len, fields))
        nodes = self.nodes
        node = nodes[-1] if nodes else None
        if node is not None and (
            (node_max_bytes and node.size + size >= node_max_bytes)
            or (node_max_entries and node.total >= node_max_entries)
        ):
            node = None
        names = fields[0::2]
        if node is None:
            node = Node(stream_id, names)
            nodes.append(node)
            self.node_firsts.append(stream_id)
            # header and end, count, deleted, field count, the names, the master terminator
            node.size = 7 + 6 + sum(map(_lp_string, names)) + 2
        delta = stream_id - node.first
        if delta < 128:  # (the usual case: the same ms as the node's first, a small seq delta)
            entry = 8
        else:
            entry = (
                4
                + _lp_int((stream_id >> 64) - (node.first >> 64))
                + _lp_int((stream_id & MAX64) - (node.first & MAX64))
            )
        for value in fields[1::2]:
            # a short value that can't be an integer: header, bytes, a one-byte back length
            length = len(value)
            entry += length + 2 if length < 64 and value[:1] not in _NUMERIC_HEAD else _lp_string(value)
        if names != node.master:
            entry += 2 + sum(map(_lp_string, names))
        node.size += entry
        node.live += 1
        node.total += 1
        self.ids.add(stream_id)
        entries = self.entries
        entries[stream_id] = tuple(fields)
        self.last_id = stream_id
        self.entries_added += 1
        if len(entries) == 1:
            self.first_id = stream_id

    def delete(self, stream_id: int) -> bool:
        """XDEL of one id; True if it was there."""
        fields = self.entries.pop(stream_id, None)
        if fields is None:
            return False
        self.ids.remove(stream_id)
        position = bisect_right(self.node_firsts, stream_id) - 1
        node = self.nodes[position]
        node.live -= 1
        if not node.live:
            del self.nodes[position]
            del self.node_firsts[position]
        if stream_id > self.max_deleted_id:
            self.max_deleted_id = stream_id
        if not self.entries:
            self.first_id = 0
        elif stream_id == self.first_id:
            self.first_id = self.ids[0]
        return True

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: remove from the front down to ``maxlen`` entries or up to ``minid``;
        ``approx`` only whole nodes, at most ``limit`` entries (0: no limit). How many went."""
        deleted = 0
        nodes = self.nodes
        removed_nodes = 0
        partial = 0  # entries to remove from the first node kept (exact trims)
        length = len(self.entries)
        for index, node in enumerate(nodes):
            if maxlen is not None and length - deleted <= maxlen:
                break
            if limit and deleted + node.live > limit:
                break
            if maxlen is not None:
                remove_node = length - deleted - node.live >= maxlen
            else:
                assert minid is not None
                following = nodes[index + 1].first if index + 1 < len(nodes) else None
                node_last = self._last_in_node(node, following)
                remove_node = node_last < minid
            if remove_node:
                deleted += node.live
                removed_nodes += 1
                continue
            if approx:
                break
            if maxlen is not None:
                partial = length - deleted - maxlen
            else:
                assert minid is not None
                start = self.ids.bisect_left(node.first)
                partial = int(self.ids.bisect_left(minid)) - int(start)
            node.live -= partial
            deleted += partial
            break
        if not deleted:
            return 0
        first_kept = deleted
        ids = self.ids
        entries = self.entries
        for stream_id in ids.islice(0, first_kept):
            del entries[stream_id]
        del ids[:first_kept]
        del nodes[:removed_nodes]
        del self.node_firsts[:removed_nodes]
        self.first_id = ids[0] if ids else 0
        return deleted

    def _last_in_node(self, node: Node, following: int | None) -> int:
        """The id of a node's last live entry."""
        ids = self.ids
        end = ids.bisect_left(following) if following is not None else len(ids)
        return int(ids[end - 1])

    # --- queries -------------------------------------------------------------------------------

    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> Iterator[tuple[int, Fields]]:
        """Entries with ids in [start, end], in order (reversed if asked), at most ``count`` (0: all)."""
        if start > end:
            return
        ids = self.ids
        first = ids.bisect_left(start)
        stop = ids.bisect_right(end)
        if count and stop - first > count:
            if reverse:
                first = stop - count
            else:
                stop = first + count
        entries = self.entries
        for stream_id in ids.islice(first, stop, reverse=reverse):
            yield stream_id, entries[stream_id]

    def has_tombstones(self, start: int = 0, end: int = MAX_ID) -> bool:
        """streamRangeHasTombstones: may a deleted entry lie in [start, end]?"""
        if not self.entries or not self.max_deleted_id:
            return False
        if self.first_id > self.max_deleted_id:
            return False
        return start <= self.max_deleted_id <= end

    def estimate_entries_read(self, stream_id: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry, INVALID_ENTRIES_READ when unknown."""
        if not self.entries_added:
            return 0
        if not self.entries and stream_id <= self.last_id:
            return self.entries_added
        if stream_id == self.last_id:
            return self.entries_added
        if stream_id > self.last_id:
            return INVALID_ENTRIES_READ
        if not self.max_deleted_id or self.max_deleted_id < self.first_id:
            if stream_id < self.first_id:
                return self.entries_added - len(self.entries)
            if stream_id == self.first_id:
                return self.entries_added - len(self.entries) + 1
        return INVALID_ENTRIES_READ

    def lag(self, group: Group) -> int | None:
        """streamReplyWithCGLag: entries not delivered to the group yet, or None if unknown."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        entries_read = self.estimate_entries_read(group.last_id)
        if entries_read == INVALID_ENTRIES_READ:
            return None
        return self.entries_added - entries_read

    def advance_group(self, group: Group, stream_id: int) -> None:
        """A group delivered ``stream_id`` (greater than its last id): its counters follow."""
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(stream_id):
            group.entries_read += 1
        elif self.entries_added:
            group.entries_read = self.estimate_entries_read(stream_id)
        group.last_id = stream_id

    # --- copies --------------------------------------------------------------------------------

    def copy(self) -> Stream:
        clone = Stream()
        clone.ids = SortedList(self.ids)
        clone.entries = dict(self.entries)  # (entries are never changed in place)
        for node in self.nodes:
            twin = Node(node.first, node.master)
            twin.live, twin.total, twin.size = node.live, node.total, node.size
            clone.nodes.append(twin)
        clone.node_firsts = list(self.node_firsts)
        clone.last_id = self.last_id
        clone.max_deleted_id = self.max_deleted_id
        clone.entries_added = self.entries_added
        clone.first_id = self.first_id
        for name, group in self.groups.items():
            twin_group = clone.groups[name] = Group(group.last_id, group.entries_read)
            for consumer_name, consumer in group.consumers.items():
                twin_group.consumers[consumer_name] = Consumer(consumer_name, consumer.seen_time)
            for stream_id, nack in group.pel.items():
                owner = None if nack.consumer is None else twin_group.consumers[nack.consumer.name]
                twin_nack = Nack(owner, nack.delivery_time, nack.delivery_count)
                twin_group.pel[stream_id] = twin_nack
                if owner is not None:
                    owner.pel[stream_id] = twin_nack
        return clone


def _lp_string(element: bytes) -> int:
    """An element's bytes in a listpack: encoding header, the bytes, the back length (an
    integer-looking string is stored as the integer, as lpAppend does)."""
    length = len(element)
    if length <= 20 and (element.isdigit() or (element[:1] == b"-" and element[1:].isdigit())):
        digits = element.lstrip(b"-")
        if digits and (digits[0] != 48 or element == b"0"):
            value = int(element)
            if -(1 << 63) <= value < 1 << 63:
                return _lp_int(value)
    header = 1 if length < 64 else 2 if length < 4096 else 5
    return header + length + _backlen(header + length)


def _lp_int(value: int) -> int:
    """An integer's bytes in a listpack (7-bit unsigned, 13, 16, 24, 32 or 64-bit signed)."""
    if 0 <= value < 128:
        return 2
    for width, size in ((13, 2), (16, 3), (24, 4), (32, 5)):
        if -(1 << (width - 1)) <= value < 1 << (width - 1):
            return size + 1
    return 10


def _backlen(length: int) -> int:
    return 1 if length < 128 else 2 if length < 16384 else 3 if length < 2097152 else 4 if length < 268435456 else 5
