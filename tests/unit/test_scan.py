"""SCAN's guarantee on the keyspace's creation-order list, under random interleavings.

Every key present from a scan's first call to its last must be returned, whatever other
writes (creations, deletions, recreations, compactions of the list, FLUSHALL) happen between
the calls; duplicates are allowed. Each call looks at a bounded number of slots.
"""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvserver.keyspace import SCAN_WALK, Keyspace

KEYS = [b"k%d" % i for i in range(12)]

step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS)),
    st.tuples(st.just("del"), st.sampled_from(KEYS)),
    st.tuples(st.just("scan"), st.integers(0, 2), st.integers(1, 5)),
    st.tuples(st.just("flush")),
)


class Scanner:
    def __init__(self, ks: Keyspace) -> None:
        self.cursor = 0
        self.started = False
        self.returned: set[bytes] = set()
        self.throughout = set(ks.data)  # present at the first call and never deleted since

    def call(self, ks: Keyspace, count: int) -> bool:
        """One SCAN call; True when the scan is complete (and then checks the guarantee)."""
        before = len(ks.order)
        self.cursor, keys = ks.scan(self.cursor, count)
        assert len(keys) <= count
        assert before == len(ks.order)
        self.returned.update(keys)
        if self.cursor == 0:
            assert self.throughout <= self.returned
            return True
        return False


@pytest.mark.slow
@settings(max_examples=800, deadline=None)
@given(st.lists(step, max_size=300), st.integers(0, 8))
def test_every_key_present_throughout_a_scan_is_returned(steps: list[tuple[object, ...]], slack: int) -> None:
    ks = Keyspace(compact_slack=slack)  # a small slack: the list is compacted often
    scanners: list[Scanner | None] = [None, None, None]
    for op in steps:
        if op[0] == "set":
            ks.set(op[1], b"v")  # type: ignore[arg-type]
        elif op[0] == "del":
            ks.delete(op[1])  # type: ignore[arg-type]
            for scanner in scanners:
                if scanner is not None:
                    scanner.throughout.discard(op[1])
        elif op[0] == "flush":
            ks.clear()
            for scanner in scanners:
                if scanner is not None:
                    scanner.throughout.clear()
        else:
            index, count = op[1], op[2]
            assert isinstance(index, int)
            assert isinstance(count, int)
            scanner = scanners[index] or Scanner(ks)
            scanners[index] = None if scanner.call(ks, count) else scanner
        assert len(ks.order) <= 2 * len(ks.data) + slack + 1
    for scanner in scanners:  # finish the open scans: they terminate, and keep the guarantee
        calls = 0
        while scanner is not None and not scanner.call(ks, 3):
            calls += 1
            assert calls <= len(KEYS) * 4


def test_a_call_looks_at_a_bounded_number_of_slots() -> None:
    ks = Keyspace()
    for i in range(10_000):
        ks.set(b"k%d" % i, b"v")
    for i in range(0, 10_000, 3):
        ks.delete(b"k%d" % i)
    cursor, keys = ks.scan(0, 5)
    assert len(keys) == 5
    assert cursor != 0
    # a region of stale slots: the call stops after COUNT * SCAN_WALK slots with fewer keys
    ks2 = Keyspace(compact_slack=100_000)
    for i in range(1000):
        ks2.set(b"k%d" % i, b"v")
    for i in range(900):
        ks2.delete(b"k%d" % i)
    cursor, keys = ks2.scan(0, 2)
    assert keys == []
    assert cursor != 0
    pos = cursor >> 34
    assert pos == 2 * SCAN_WALK


def test_random_key_is_o1_over_the_order_list() -> None:
    ks = Keyspace()
    for i in range(1000):
        ks.set(b"k%d" % i, b"v")
    for i in range(999):
        ks.delete(b"k%d" % i)
    assert len(ks.order) <= 2 * len(ks.data) + ks.compact_slack
    assert ks.random_key() == b"k999"
    ks.clear()
    assert ks.random_key() is None


def test_a_recreated_key_does_not_make_an_old_cursor_skip_ahead() -> None:
    """k has a stale-but-live first slot before the cursor: compaction must not count it."""
    ks = Keyspace(compact_slack=0)
    for key in (b"k", b"j"):
        ks.set(key, b"v")
    ks.delete(b"k")
    ks.set(b"k", b"v")  # order: k (old slot, k present again), j, k
    scanner = Scanner(ks)
    assert not scanner.call(ks, 1)  # returns k from its first slot; the cursor is past it
    for i in range(3):
        ks.set(b"x%d" % i, b"v")
    for i in range(3):
        ks.delete(b"x%d" % i)  # enough stale slots: the list is compacted to [j, k]
    assert sorted(ks.order) == [b"j", b"k"]  # k keeps its first live slot (a cursor past it returned it)
    while not scanner.call(ks, 1):
        pass
    assert b"j" in scanner.returned


# --- HSCAN / SSCAN / ZSCAN on indexed containers -----------------------------------------------

from kvserver.commands.containers import IndexedHash, IndexedSet  # noqa: E402
from kvserver.zset import ZSet  # noqa: E402
from tests.support import Harness, array  # noqa: E402

MEMBERS = [b"m%d" % i for i in range(700)]

container_step = st.one_of(
    st.tuples(st.just("add"), st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=30)),
    st.tuples(st.just("rem"), st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=60)),
    st.tuples(st.just("pop"), st.integers(1, 40)),
    st.tuples(st.just("scan"), st.integers(1, 80)),
)

KINDS = {
    "set": (("SADD", "s"), ("SREM", "s"), "SSCAN", IndexedSet),
    "hash": (("HSET", "s"), ("HDEL", "s"), "HSCAN", IndexedHash),
    "zset": (("ZADD", "s"), ("ZREM", "s"), "ZSCAN", ZSet),
}


def _add_args(kind: str, members: list[bytes]) -> list[bytes]:
    if kind == "set":
        return members
    return [b for m in members for b in ((m, b"1") if kind == "hash" else (b"1", m))]


def _check_positions(value: object) -> None:
    members = getattr(value, "members", None) or getattr(value, "fields", None) or []
    slots = value.slots  # type: ignore[attr-defined]
    assert len(members) == len(slots) == len(value)  # type: ignore[arg-type]
    assert all(slots[m] == i for i, m in enumerate(members))
    assert set(members) == set(value.scores if isinstance(value, ZSet) else value)  # type: ignore[call-overload]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.lists(container_step, max_size=40))
@pytest.mark.slow
def test_container_scans_return_every_member_present_throughout(kind: str, steps: list[tuple[object, ...]]) -> None:
    h = Harness()
    add, rem, scan, indexed_type = KINDS[kind]
    h(*add, *_add_args(kind, MEMBERS[:600]))
    assert type(h.db.keyspace.data[b"s"]) is indexed_type
    cursor = b"0"
    present = set(MEMBERS[:600])
    throughout = set(present)
    returned: set[bytes] = set()
    done = False
    for op in steps:
        if op[0] == "add":
            h(*add, *_add_args(kind, op[1]))  # type: ignore[arg-type]
            present |= set(cast(list[bytes], op[1]))
        elif op[0] == "rem":
            h(*rem, *op[1])  # type: ignore[misc]
            present -= set(cast(list[bytes], op[1]))
            throughout -= set(cast(list[bytes], op[1]))
        elif op[0] == "pop":
            if kind == "set":
                popped = h("SPOP", "s", str(op[1]))
            elif kind == "zset":
                popped = h("ZPOPMIN", "s", str(op[1]))[::2]  # type: ignore[index]
            else:
                popped = h("HRANDFIELD", "s", str(op[1]))
                h("HDEL", "s", *popped)  # type: ignore[misc]
            present -= set(array(popped))
            throughout -= set(array(popped))
        elif not done:
            reply = h(scan, "s", cursor, "COUNT", str(op[1]))
            assert isinstance(reply, list)
            cursor, items = reply
            returned |= set(items if kind == "set" else items[::2])
            done = cursor == b"0"
        value = h.db.keyspace.data.get(b"s")
        if value is not None and type(value) is indexed_type:
            _check_positions(value)
    while not done and b"s" in h.db.keyspace.data:
        cursor, items = h(scan, "s", cursor, "COUNT", "50")  # type: ignore[misc]
        returned |= set(items if kind == "set" else items[::2])
        done = cursor == b"0"
    assert throughout & present <= returned


def test_indexed_set_random_picks_and_pops_stay_indexed() -> None:
    h = Harness()
    h("SADD", "s", *MEMBERS)
    value = h.db.keyspace.data[b"s"]
    assert type(value) is IndexedSet
    assert h("OBJECT", "ENCODING", "s") == b"hashtable"
    assert h("SRANDMEMBER", "s") in set(MEMBERS)
    picked = h("SRANDMEMBER", "s", "10")
    assert isinstance(picked, list) and len(set(picked)) == 10  # noqa: PT018
    popped = h("SPOP", "s", "100")
    assert isinstance(popped, list) and len(popped) == 100  # noqa: PT018
    assert h.db.keyspace.data[b"s"] is value
    _check_positions(value)
    assert h("SCARD", "s") == 600
    assert h("COPY", "s", "t") == 1
    assert type(h.db.keyspace.data[b"t"]) is IndexedSet
    assert h("SINTERSTORE", "u", "s", "t") == 600
    assert type(h.db.keyspace.data[b"u"]) is IndexedSet
    h("HSET", "h", *[b for m in MEMBERS[:200] for b in (m, b"v")])
    assert type(h.db.keyspace.data[b"h"]) is IndexedHash
    assert h("HRANDFIELD", "h") in set(MEMBERS)
