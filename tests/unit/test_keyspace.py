"""The keyspace: lazy and active expiry through the sorted TTL index, with an injected clock."""

from __future__ import annotations

from kvserver.keyspace import Keyspace


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
    assert not ks.ttl_index


def test_set_replaces_the_deadline_and_keeps_one_index_entry() -> None:
    ks, clock, _ = make()
    ks.set(b"k", b"v", clock.now + 100)
    ks.set(b"k", b"w", clock.now + 200)
    assert list(ks.ttl_index) == [(clock.now + 200, b"k")]
    ks.set(b"k", b"x")
    assert not ks.ttl_index
    assert ks.deadline(b"k") is None
    ks.set_deadline(b"k", clock.now + 5)
    ks.set_keep_ttl(b"k", b"y")
    assert ks.deadline(b"k") == clock.now + 5


def test_purge_walks_the_index_in_bounded_batches() -> None:
    ks, clock, expired = make()
    for i in range(1000):
        ks.set(b"k%d" % i, b"v", clock.now + 10)  # a thousand keys share one deadline
    ks.set(b"later", b"v", clock.now + 1000)
    ks.set(b"forever", b"v")
    clock.now += 10
    assert ks.purge_expired(clock.now, 300) == 300
    assert ks.purge_expired(clock.now, 300) == 300
    assert ks.purge_expired(clock.now, 1000) == 400
    assert ks.purge_expired(clock.now, 1000) == 0
    assert len(expired) == 1000
    assert sorted(ks.data) == [b"forever", b"later"]
    assert ks.next_deadline() == clock.now + 990


def test_nothing_expires_while_loading() -> None:
    ks, clock, expired = make()
    ks.set(b"k", b"v", clock.now - 1)
    ks.start_loading()
    assert ks.get(b"k") == b"v"
    assert ks.purge_expired(clock.now, 10) == 0
    ks.finish_loading()
    assert ks.get(b"k") is None
    assert expired == [b"k"]


def test_loading_builds_the_ttl_index_once_at_the_end() -> None:
    ks, clock, _ = make()
    ks.set(b"before", b"v", clock.now + 50)
    ks.start_loading()
    for i in range(100):
        ks.set(b"k%d" % i, b"v", clock.now + 1000 - i)
    ks.set(b"k0", b"v", clock.now + 5)  # a later deadline replaces an earlier one
    ks.set(b"k1", b"v")  # and a key can lose its deadline
    ks.delete(b"k2")
    ks.finish_loading()
    expected = sorted((d, k) for k, d in ks.expires.items())
    assert list(ks.ttl_index) == expected
    assert len(expected) == 1 + 100 - 2
    assert ks.next_deadline() == clock.now + 5


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
