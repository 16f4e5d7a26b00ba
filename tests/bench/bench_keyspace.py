"""The keyspace in-process, no server (run by hand): the hot path's cost per call, and the worst
pause of the active expiry while N keys expire at once (CPU time of one batch of 200 slots,
compactions and frees included), kvserver only.

    python -m tests.bench.bench_keyspace [--keys 1000000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from kvserver.keyspace import Keyspace


def per_call_ns(run: Callable[[int], None], calls: int = 100_000, repeats: int = 7) -> float:
    """The fastest of ``repeats`` runs of ``calls`` calls, in CPU nanoseconds a call."""
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        run(calls)
        best = min(best, time.thread_time() - started)
    return best / calls * 1e9


def hot_path() -> dict[str, float]:
    ks = Keyspace()
    for i in range(100_000):
        ks.set(b"k%d" % i, b"v", 10**13 if i % 2 else None)
    get, put = ks.get, ks.set

    def get_plain(n: int) -> None:
        for _ in range(n):
            get(b"k4")

    def get_with_ttl(n: int) -> None:
        for _ in range(n):
            get(b"k5")

    def set_plain(n: int) -> None:
        for _ in range(n):
            put(b"k4", b"w")

    def set_new_deadline(n: int) -> None:
        for i in range(n):
            put(b"k5", b"w", 10**13 + i)

    return {
        "GET (no TTL)": per_call_ns(get_plain),
        "GET (TTL)": per_call_ns(get_with_ttl),
        "SET": per_call_ns(set_plain),
        "SET with a new deadline": per_call_ns(set_new_deadline),
    }


def mass_expiry(keys: int) -> dict[str, float]:
    now = [0]
    ks = Keyspace(clock=lambda: now[0])
    for i in range(keys):
        ks.set(b"expiring:%d" % i, b"v" * 32 + b"%d" % i, 1000)
    now[0] = 2000
    worst = 0.0
    started = time.thread_time()
    while len(ks):
        before = time.thread_time()
        ks.purge_expired(now[0], 200)
        worst = max(worst, time.thread_time() - before)
    return {"worst batch (ms)": worst * 1000, "all gone (s CPU)": time.thread_time() - started}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    for name, value in hot_path().items():
        print(f"{name:32} {value:8.0f} ns")
    for name, value in mass_expiry(args.keys).items():
        print(f"{name:32} {value:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
