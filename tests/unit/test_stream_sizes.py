"""A stream's size through kvserver.memory's one registration (register_size): MEMORY USAGE and
the eviction estimate count its entries, nodes, groups and pending entries, not just the object."""

from __future__ import annotations

import sys

from kvserver.memory import contents_size, estimate_size
from kvserver.stream import Stream
from tests.support import Harness


def filled(entries: int) -> Harness:
    h = Harness()
    for i in range(entries):
        h("XADD", "s", "*", "field", f"value-{i}")
    return h


def usage(h: Harness, *extra: str) -> int:
    size = h("MEMORY", "USAGE", "s", *extra)
    assert isinstance(size, int)
    return size


def test_memory_usage_counts_a_streams_entries() -> None:
    small, big = filled(10), filled(2000)
    assert usage(big) > 2000 * 100  # each entry's id, fields and slots: well past 100 bytes
    assert usage(big) > 50 * usage(small)
    exact = usage(big, "SAMPLES", "0")
    assert abs(exact - usage(big)) < exact // 10  # same-shaped entries: the sample extrapolates well


def test_memory_usage_counts_groups_and_pending_entries() -> None:
    h = filled(500)
    before = usage(h)
    h("XGROUP", "CREATE", "s", "g", "0")
    h("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    assert usage(h) > before + 500 * 100


def test_eviction_estimate_counts_a_streams_entries() -> None:
    h = filled(1000)
    value = h.db.keyspace_of(0).get(b"s")
    assert isinstance(value, Stream)
    assert estimate_size(b"s", value) > sys.getsizeof(value) + 1000 * 100
    assert contents_size(value, None) > 1000 * 100
    assert contents_size(object(), None) == 0  # a type without a sizer adds nothing
