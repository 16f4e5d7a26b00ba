"""OBJECT IDLETIME and FREQ: what counts as an access, the LRU clock, the LFU counter and its decay."""

from __future__ import annotations

import pytest

from kvserver.keyspace import LFU_INIT_VAL
from kvserver.protocol import ErrorReply
from tests.support import Harness

LFU_ERROR = (
    b"ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
    b"switching between policies at runtime LRU and LFU data will take some time to adjust."
)
LRU_ERROR = (
    b"ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
    b"between policies at runtime LRU and LFU data will take some time to adjust."
)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_idle_time_counts_from_the_last_read_or_write_not_from_ttl_type_exists(h: Harness) -> None:
    h("SET", "k", "v")
    h.db.keyspace.stamp += 5
    h("TTL", "k")
    h("PTTL", "k")
    h("TYPE", "k")
    h("EXISTS", "k")
    h("OBJECT", "ENCODING", "k")
    assert h("OBJECT", "IDLETIME", "k") == 5
    h("GET", "k")
    assert h("OBJECT", "IDLETIME", "k") == 0
    h.db.keyspace.stamp += 3
    h("TOUCH", "k", "nosuch")
    assert h("OBJECT", "IDLETIME", "k") == 0
    h.db.keyspace.stamp += 2
    h("APPEND", "k", "x")  # a write is an access too
    assert h("OBJECT", "IDLETIME", "k") == 0
    assert h("OBJECT", "IDLETIME", "nosuch") is None
    assert h("OBJECT", "FREQ", "k") == ErrorReply(LFU_ERROR)
    assert h("OBJECT", "FREQ", "nosuch") is None  # the key is looked up first, as Redis


def test_the_access_time_of_a_removed_key_is_forgotten(h: Harness) -> None:
    h("SET", "k", "v")
    h("SET", "e", "v", "PX", "1")
    h("DEL", "k")
    h.clock.now += 10
    h.db.keyspace.purge_expired(h.clock.now, 10)
    assert h.db.keyspace.access == {}


def test_an_lfu_policy_counts_accesses_logarithmically_and_decays_by_the_minute(h: Harness) -> None:
    h("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    h("SET", "k", "v")
    assert h("OBJECT", "FREQ", "k") == LFU_INIT_VAL
    assert h("OBJECT", "IDLETIME", "k") == ErrorReply(LRU_ERROR)
    h("GET", "k")  # from the initial value, the first access always counts
    assert h("OBJECT", "FREQ", "k") == LFU_INIT_VAL + 1
    for _ in range(1000):
        h("GET", "k")
    counted = h("OBJECT", "FREQ", "k")
    assert isinstance(counted, int)
    assert LFU_INIT_VAL + 5 < counted < 40  # 1 / (n * 10 + 1) per access: logarithmic
    h.db.keyspace.stamp += 3 * 60
    assert h("OBJECT", "FREQ", "k") == counted - 3  # lfu-decay-time 1: one a minute
    h("CONFIG", "SET", "maxmemory-policy", "noeviction")
    assert h("OBJECT", "IDLETIME", "k") == 0  # idle since the change of policy
    h.db.keyspace.stamp += 7
    assert h("OBJECT", "IDLETIME", "k") == 7


def test_restore_can_set_the_idle_time_or_the_frequency(h: Harness) -> None:
    h("SET", "k", "v")
    h.db.keyspace.set_access(b"k", idle=1000, freq=7)
    assert h("OBJECT", "IDLETIME", "k") == 1000
    h("CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    h.db.keyspace.set_access(b"k", idle=1000, freq=100)
    assert h("OBJECT", "FREQ", "k") == 100
