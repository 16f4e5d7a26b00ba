"""The server's own schedule of full garbage collections (CPython's generation 2).

A full collection walks every container the collector tracks. With a big keyspace of container
values (a hash, list, set or sorted set is one or more tracked objects per key) that takes tens
of milliseconds and, the keyspace holding no reference cycles, finds nothing: a pause at a
moment the allocation counters pick, in the middle of serving. Strings (bytes) and the
keyspace's own dicts and lists cost nothing once frozen (the startup freezes everything loaded).

The schedule: generations 0 and 1 stay automatic (young objects only: cheap). The automatic
full collection is off; ``tick`` (the cron, every 100 ms) runs one

- when the server was idle for the whole tick (no input bytes read) and there is something to
  collect: at least ``PENDING`` young collections since the last full one, CPython's own
  threshold;
- or, however busy the server, once ``FORCE_SECONDS`` passed since the last full one with
  something pending. A workload that makes reference cycles and never pauses still has them
  collected: the worst case is one full collection (the pause CPython would have taken, no
  more) every ``FORCE_SECONDS``.

A full collection that took longer than ``FREEZE_SECONDS`` means many long-lived objects (a
bulk load of container values over the network): the survivors are then frozen (``gc.freeze``),
so the next collections skip them. A frozen object that later becomes part of a garbage cycle
is not collected while frozen; every ``UNFREEZE_SECONDS`` (when idle; at the latest after
``4 * UNFREEZE_SECONDS``) the frozen objects are unfrozen, collected with the rest, and the
survivors frozen again.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger("kvserver")

PENDING: Final = 10  # young (generation 1) collections since the last full one: CPython's threshold
FORCE_SECONDS: Final = 60.0  # a busy server still collects this often (if anything is pending)
FREEZE_SECONDS: Final = 0.005  # a full collection this long freezes its survivors
UNFREEZE_SECONDS: Final = 600.0  # frozen objects are collected again this often (when idle)
_NEVER: Final = 1 << 30  # a generation-2 threshold the young collections never reach
VERBOSE: Final = logging.DEBUG + 5  # Redis's loglevel verbose (cli.py's table)


class Collector:
    """Full collections on the server's schedule; ``activity()`` grows while clients are served."""

    def __init__(
        self,
        activity: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        pending: int = PENDING,
        force_seconds: float = FORCE_SECONDS,
    ) -> None:
        self.activity = activity
        self.clock = clock
        self.pending = pending
        self.force_seconds = force_seconds
        self.full_collections = 0  # run by the schedule
        self.collected = 0  # objects they found unreachable
        self._seen = activity()
        self._last_full = clock()
        self._last_unfreeze = self._last_full
        self._thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Take over generation 2 from CPython's automatic collection."""
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, _NEVER)

    def stop(self) -> None:
        """Give generation 2 back to CPython (tests; a server never stops collecting)."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def tick(self) -> None:
        now = self.clock()
        activity = self.activity()
        idle = activity == self._seen
        self._seen = activity
        if not gc.isenabled():  # someone (a test, a debugger) turned the collector off
            return
        # get_freeze_count walks the frozen objects (CPython counts a linked list: 11 ms for 1M),
        # so it is asked only once an unfreeze is due, never on every tick
        if now - self._last_unfreeze >= UNFREEZE_SECONDS * (1 if idle else 4) and gc.get_freeze_count():
            self._last_unfreeze = now
            gc.unfreeze()
            self.collect("frozen objects", now, freeze=True)
        elif gc.get_count()[2] >= self.pending and (idle or now - self._last_full >= self.force_seconds):
            self.collect("idle" if idle else "forced", now, freeze=False)

    def collect(self, reason: str, now: float, freeze: bool) -> None:
        started = time.perf_counter()
        found = gc.collect()
        took = time.perf_counter() - started
        self._last_full = now
        self.full_collections += 1
        self.collected += found
        if freeze or took >= FREEZE_SECONDS:
            gc.freeze()  # the survivors are long-lived: later collections skip them
        log.log(VERBOSE, "Full garbage collection (%s): %d unreachable, %.1f ms", reason, found, took * 1000)


__all__ = ["Collector"]
