"""The keyspace: lazy expiry, and the active expiry's walk over the keys with a deadline, with an injected clock."""

from __future__ import annotations

import gc

from kvserver.keyspace import COMPACT_AT_ONCE, Keyspace


class Clock:
    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make() -> tuple[Keyspace, Clock, list[bytes]]:
    clock = Clock()
    expired: list[bytes] = []
    ks = Keyspace(clock, on_expire=expired.append)
    return ks, clock, expired


def test_key_expires_exactly_at_its_deadline() -> None:
    ks, clock, expired = make()
    ks.set(b"k", b"v", clock.now + 100)
    clock.now += 99
    assert ks.get(b"k") == b"v"
    clock.now += 1
    assert ks.get(b"k") is None
    assert expired == [b"k"]
    assert len(ks) == 0
    assert not ks.expires


def test_set_replaces_the_deadline_and_keeps_one_slot() -> None:
    ks, clock, _ = make()
    ks.set(b"k", b"v", clock.now + 100)
    ks.set(b"k", b"w", clock.now + 200)
    assert ks.volatile == [b"k"]
    assert ks.expires == {b"k": clock.now + 200}
    ks.set(b"k", b"x")
    assert not ks.expires
    assert ks.deadline(b"k") is None
    ks.set_deadline(b"k", clock.now + 5)
    ks.set_keep_ttl(b"k", b"y")
    assert ks.deadline(b"k") == clock.now + 5


def test_purge_walks_the_keys_with_a_deadline_in_bounded_batches() -> None:
    ks, clock, expired = make()
    for i in range(1000):
        ks.set(b"k%d" % i, b"v", clock.now + 10)  # a thousand keys share one deadline
    ks.set(b"later", b"v", clock.now + 1000)
    ks.set(b"forever", b"v")
    clock.now += 10
    assert ks.purge_expired(clock.now, 300) == 300
    assert ks.purge_expired(clock.now, 300) == 300
    assert ks.purge_expired(clock.now, 1000) == 400  # the walk goes round: 401 slots, "later" lives
    assert ks.purge_expired(clock.now, 1000) == 0
    assert len(expired) == 1000
    assert sorted(ks.data) == [b"forever", b"later"]


def test_the_walk_goes_round_and_finds_a_key_that_became_due_behind_it() -> None:
    ks, clock, expired = make()
    for i in range(10):
        ks.set(b"k%d" % i, b"v", clock.now + 100 * (i + 1))
    clock.now += 100
    assert ks.purge_expired(clock.now, 4) == 1  # k0; the cursor is now at k4
    clock.now += 500
    assert ks.purge_expired(clock.now, 4) == 2  # k4, k5 (k6, k7 not yet due)
    assert ks.purge_expired(clock.now, 6) == 3  # k8, k9 not due; round: k0's stale slot, k1, k2, k3
    assert expired == [b"k0", b"k4", b"k5", b"k1", b"k2", b"k3"]
    assert ks.purge_expired(clock.now, 100) == 0  # each slot at most once per call


def test_equal_deadlines_share_one_int_object() -> None:
    ks, clock, _ = make()
    for i in range(3):
        ks.set(b"k%d" % i, b"v", int(str(clock.now + 10)))  # three distinct int objects
    ks.set_deadline(b"k1", int(str(clock.now + 10)))
    first, second, third = (ks.expires[b"k%d" % i] for i in range(3))
    assert first is second is third


def compacting(ks: Keyspace) -> bool:
    return ks._compacting is not None or ks._compacting_volatile is not None


def test_a_long_list_is_compacted_in_steps_while_it_is_used() -> None:
    ks = Keyspace(compact_slack=0)
    count = 3 * COMPACT_AT_ONCE
    for i in range(count):
        ks.set(b"k%d" % i, b"v", 10**13)
    cursor, first = ks.scan(0, 1000)
    doomed = [b"k%d" % i for i in range(count) if i % 3 != 2]
    while ks._compacting is None:
        ks.delete(doomed.pop())  # until stale slots outnumber live ones: a compaction starts
    assert ks._compacting_volatile is not None
    in_use = ks.order
    ks.set(b"new", b"v", 10**13)  # appended to the lists in use
    assert ks.order is in_use
    assert ks.order[-1] == b"new"
    steps = 0
    while compacting(ks):
        ks.maintain()
        steps += 1
    assert steps > 10  # not at once
    for key in doomed:
        ks.delete(key)
    survivors = {b"k%d" % i for i in range(2, count, 3)} | {b"new"}
    assert set(ks.order) & ks.data.keys() == survivors == set(ks.volatile) & ks.expires.keys()
    assert len(ks.order) <= 2 * len(survivors)
    assert len(ks.volatile) <= 2 * len(survivors)
    returned = set(first)  # the scan begun before the compaction still returns every survivor
    while cursor:
        cursor, keys = ks.scan(cursor, 1000)
        returned.update(keys)
    assert survivors - {b"new"} <= returned


def test_a_compaction_builds_its_lists_in_the_old_generation() -> None:
    """The new lists grow to every live key without the steps allocating anything that lives, so
    a young collection would only walk them at their full size (40 ms for 450k keys, measured in
    P6): they start out in the oldest generation."""
    ks = Keyspace(compact_slack=0)
    count = 3 * COMPACT_AT_ONCE
    for i in range(count):
        ks.set(b"k%d" % i, b"v", 10**13)
    i = 0
    while ks._compacting is None:
        ks.delete(b"k%d" % i)
        i += 1
    compactions = [ks._compacting, ks._compacting_volatile]
    assert all(c is not None for c in compactions)
    young = {id(o) for generation in (0, 1) for o in gc.get_objects(generation=generation)}
    for compaction in compactions:
        assert compaction is not None
        assert id(compaction.kept) not in young
        assert compaction.seen is None or id(compaction.seen) not in young


def test_nothing_expires_while_loading() -> None:
    ks, clock, expired = make()
    ks.set(b"k", b"v", clock.now - 1)
    ks.start_loading()
    assert ks.get(b"k") == b"v"
    assert ks.purge_expired(clock.now, 10) == 0
    ks.finish_loading()
    assert ks.get(b"k") is None
    assert expired == [b"k"]


def test_loading_builds_the_list_of_keys_with_a_deadline_once_at_the_end() -> None:
    ks, clock, _ = make()
    ks.set(b"before", b"v", clock.now + 50)
    ks.start_loading()
    for i in range(100):
        ks.set(b"k%d" % i, b"v", clock.now + 1000 - i)
    ks.set(b"k0", b"v", clock.now + 5)  # a later deadline replaces an earlier one
    ks.set(b"k1", b"v")  # and a key can lose its deadline
    ks.delete(b"k2")
    assert ks.volatile == [b"before"]
    ks.finish_loading()
    assert ks.volatile == list(ks.expires)
    assert len(ks.volatile) == 1 + 100 - 2
    assert ks.expires[b"k0"] == clock.now + 5


def test_delete_reports_only_live_keys() -> None:
    ks, clock, expired = make()
    ks.set(b"a", b"1")
    ks.set(b"b", b"2", clock.now)  # already due
    assert ks.delete(b"a") is True
    assert ks.delete(b"b") is False
    assert ks.delete(b"missing") is False
    assert expired == [b"b"]


def test_live_keys_skip_expired_ones() -> None:
    ks, clock, _ = make()
    ks.set(b"a", b"1")
    ks.set(b"b", b"2", clock.now + 1)
    clock.now += 1
    assert list(ks.live_keys()) == [b"a"]


def test_random_key_never_returns_an_expired_key() -> None:
    ks, clock, _ = make()
    assert ks.random_key() is None
    for i in range(50):
        ks.set(b"dead%d" % i, b"v", clock.now)
    ks.set(b"alive", b"v")
    assert ks.random_key() == b"alive"
