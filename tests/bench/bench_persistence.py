"""P4 and P5: memory and startup replay for 1M sessions, side by side (run by hand).

N session-sized writes (~40 B key, ~200 B value, absolute deadline) go to kvserver and to
redis-server (appendonly yes, appendfsync everysec, no RDB preamble: a pure command AOF on both).
Each is stopped and started again on its log:

P4  RSS after the restart, holding N sessions                  (target: <= 1.25x Redis, issue 15)
P5  startup replay of the log holding N writes (process start to "ready")  (target: <= 0.9x Redis, issue 15)

With --rewrite it also runs BGREWRITEAOF on the loaded server while a client PINGs, and reports
the PING round trip during the rewrite (kvserver has no fork: it rewrites in slices on its loop).

    python -m tests.bench.bench_persistence [--keys 1000000] [--rewrite] [--json]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import redis

from tests.bench.common import SERVERS, Row, main_for, ping_during, server
from tests.support import load_keys, wait_for


def load_sessions(port: int, count: int) -> None:
    load_keys(port, count, int(time.time() * 1000) + 86_400_000, b"s" * 200, b"session:%032d")


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096


def rewrite_and_wait(port: int) -> float:
    with redis.Redis(port=port) as r:
        before = int(r.info("persistence").get("aof_rewrites", 0) or 0)
        started = time.perf_counter()
        r.bgrewriteaof()
        if "aof_rewrites" in r.info("persistence"):  # kvserver counts rewrites
            wait_for(lambda: int(r.info("persistence")["aof_rewrites"]) > before, timeout=600, interval=0.01)
        else:  # Redis: wait for the forked child to finish
            wait_for(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, timeout=600, interval=0.01)
        return time.perf_counter() - started


def measure(name: str, keys: int, with_rewrite: bool) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix=f"kvbench-persist-{name}-"))
    try:
        first = server(name, root, "everysec").start(timeout=600)
        load_sessions(first.port, keys)
        result: dict[str, float] = {}
        if with_rewrite:
            latency = ping_during(first.port, lambda: rewrite_and_wait(first.port))
            result.update({f"rewrite_{k}": v for k, v in latency.items()})
            load_sessions(first.port, keys)  # the same writes again: the log holds a rewrite plus N records
        first.terminate(timeout=600)
        second = server(name, root, "everysec")
        started = time.perf_counter()
        second.start(timeout=600)
        result["replay_seconds"] = time.perf_counter() - started
        with redis.Redis(port=second.port) as r:
            assert r.dbsize() == keys, r.dbsize()
        result["rss_mb"] = rss_bytes(second.pid) / 1e6
        second.terminate(timeout=600)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(keys: int = 1_000_000, rewrite: bool = False) -> list[Row]:
    results = {name: measure(name, keys, rewrite) for name in SERVERS}
    kv, rd = results["kvserver"], results["redis"]
    rows = [
        Row("P4", f"RSS holding {keys:,} sessions", "MB", kv["rss_mb"], rd["rss_mb"], "<= 1.25"),
        Row("P5", f"startup replay of {keys:,} writes", "s", kv["replay_seconds"], rd["replay_seconds"], "<= 0.9"),
    ]
    if rewrite:
        rows += [
            Row("", f"BGREWRITEAOF of {keys:,} keys", "s", kv["rewrite_seconds"], rd["rewrite_seconds"]),
            Row("", "  PING p99 during the rewrite", "ms", kv["rewrite_p99_ms"], rd["rewrite_p99_ms"]),
            Row("", "  PING max during the rewrite", "ms", kv["rewrite_max_ms"], rd["rewrite_max_ms"]),
        ]
    return rows


if __name__ == "__main__":
    sys.exit(main_for(run, keys=1_000_000, rewrite=False))
