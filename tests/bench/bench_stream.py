"""Stream benchmark, side by side with redis-server (run by hand, not by pytest).

Both servers run with appendonly yes and appendfsync everysec. On each:
1. XADD N entries (``*`` ids, one field) one per command, pipelined 1,000 deep over one connection.
2. XREAD COUNT 100 from random ids of that stream (what a reader catching up does).
3. Q XRANGE windows of 100 entries (start id, COUNT 100) at random places in the N-entry stream.
4. The same windows on a stream of 10,000 entries: if ranges are O(log n + m), the rate barely
   depends on the size of the stream (the "size penalty" row).

    python -m tests.bench.bench_stream [--entries 1000000] [--queries 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from kvserver.protocol import encode_command
from tests.bench.bench_zset import DEPTH, pipelined
from tests.support import kvserver_process, redis_server_process


def run(port: int, entries: int, queries: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    # explicit ids 1-0, 2-0 ... so both servers hold the same ids and windows are comparable
    xadd = (encode_command(b"XADD", b"s", b"%d-0" % (i + 1), b"f", b"v%d" % i) for i in range(entries))
    xadd_seconds, _ = pipelined(port, xadd)
    pipelined(port, (encode_command(b"XADD", b"small", b"%d-0" % (i + 1), b"f", b"v") for i in range(10_000)))

    def reads() -> Iterable[bytes]:
        for _ in range(queries):
            after = rng.randrange(entries - 100)
            yield encode_command(b"XREAD", b"COUNT", b"100", b"STREAMS", b"s", b"%d-0" % after)

    def windows(key: bytes, size: int) -> Iterable[bytes]:
        for _ in range(queries):
            start = rng.randrange(1, size - 100)
            yield encode_command(b"XRANGE", key, b"%d" % start, b"+", b"COUNT", b"100")

    read_seconds, _ = pipelined(port, reads())
    range_seconds, sample = pipelined(port, windows(b"s", entries))
    small_seconds, _ = pipelined(port, windows(b"small", 10_000))
    returned = sum(len(r) for r in sample if isinstance(r, list)) / max(len(sample), 1)
    return {
        "xadd_per_s": entries / xadd_seconds,
        "xread_per_s": queries / read_seconds,
        "range_per_s": queries / range_seconds,
        "range_small_per_s": queries / small_seconds,
        "entries_per_window": returned,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kvbench-stream-"))
    servers = {
        "kvserver": kvserver_process(root / "kv", "--appendfsync", "everysec"),
        "redis": redis_server_process(root / "redis", "--appendonly", "yes", "--appendfsync", "everysec"),
    }
    results: dict[str, dict[str, float]] = {}
    for name, server in servers.items():
        server.start()
        try:
            results[name] = run(server.port, args.entries, args.queries, seed=7)
        finally:
            server.terminate(timeout=600)
    if args.json:
        print(json.dumps({"entries": args.entries, "queries": args.queries, "results": results}, indent=2))
        return 0
    kv, rd = results["kvserver"], results["redis"]
    print(f"{args.entries:,} entries, {args.queries:,} queries, appendfsync everysec, pipeline {DEPTH}\n")
    print("| operation | kvserver | redis-server | ratio (kv/redis) |\n|---|---|---|---|")
    for label, key in [
        ("XADD, entries/s", "xadd_per_s"),
        (f"XREAD COUNT 100 on {args.entries:,} entries, reads/s", "xread_per_s"),
        (f"XRANGE ~{kv['entries_per_window']:.0f}-entry windows on {args.entries:,}, queries/s", "range_per_s"),
        ("the same windows on 10,000 entries, queries/s", "range_small_per_s"),
    ]:
        print(f"| {label} | {kv[key]:,.0f} | {rd[key]:,.0f} | {kv[key] / rd[key]:.2f} |")
    for name, r in results.items():
        print(
            f"\n{name}: {args.entries:,}-entry windows run at {r['range_per_s'] / r['range_small_per_s']:.2f}x "
            "the rate of 10k-entry windows"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
