"""The server's full-collection schedule: cyclic garbage is collected when idle, or when forced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from kvserver.collector import Collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.activity = 0
        self.collector = Collector(lambda: self.activity, lambda: self.now, pending=2, force_seconds=60.0)

    def busy_tick(self) -> None:
        self.activity += 1  # a client was served during the tick
        self.now += 0.1
        self.collector.tick()

    def idle_tick(self) -> None:
        self.now += 0.1
        self.collector.tick()


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    w.collector.start()
    try:
        yield w
    finally:
        w.collector.stop()
        gc.unfreeze()


def old_cycle() -> weakref.ref[Node]:
    """A reference cycle that survived into generation 2, now garbage: only a full collection frees it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1)  # reachable (``a`` is held): both move to the oldest generation
    gc.collect(1)  # ... and the schedule has young collections pending
    gc.collect(1)
    ref = weakref.ref(a)
    del a, b
    gc.collect(1)  # young collections don't look at generation 2
    return ref


def test_the_automatic_full_collection_is_off_and_restored() -> None:
    before = gc.get_threshold()
    collector = Collector(lambda: 0)
    collector.start()
    assert gc.get_threshold()[:2] == before[:2]
    assert gc.get_threshold()[2] > 1_000_000
    collector.stop()
    assert gc.get_threshold() == before


def test_cyclic_garbage_is_collected_once_the_server_is_idle(world: World) -> None:
    ref = old_cycle()
    for _ in range(10):
        world.busy_tick()
    assert ref() is not None  # serving: no full collection yet
    world.idle_tick()
    assert ref() is None
    assert world.collector.full_collections == 1
    assert world.collector.collected >= 2


def test_a_server_that_is_never_idle_still_collects_after_force_seconds(world: World) -> None:
    ref = old_cycle()
    world.busy_tick()
    assert ref() is not None
    world.now += 60.0
    world.busy_tick()
    assert ref() is None
    assert world.collector.full_collections == 1


def test_nothing_pending_no_collection(world: World) -> None:
    gc.collect()
    world.idle_tick()
    world.idle_tick()
    assert world.collector.full_collections == 0


def test_a_tick_counts_the_frozen_objects_only_once_an_unfreeze_is_due(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc.get_freeze_count walks every frozen object (11 ms for a million): asked on every tick,
    it cost a server with a big frozen keyspace a pause each tick."""
    counted: list[int] = []
    real = gc.get_freeze_count

    def counting() -> int:
        counted.append(1)
        return real()

    monkeypatch.setattr(gc, "get_freeze_count", counting)
    for _ in range(20):
        world.idle_tick()
        world.busy_tick()
    assert counted == []
    world.now += 600.0
    world.idle_tick()
    assert counted == [1]
