"""Sorted-set complexity benchmark, side by side with redis-server (run by hand, not by pytest).

Both servers run with appendonly yes and appendfsync everysec. On each:
1. ZADD N members one per command (scores random), pipelined 1,000 deep over one connection.
2. Q ZRANGEBYSCORE windows of about 100 members (WITHSCORES) at random places in the set.
3. The same windows on a set of 10,000 members: if ranges are O(log n + m), the rate barely
   depends on the size of the set (the "size penalty" row).
4. ZREMRANGEBYSCORE trims that each remove the lowest ~100 scores, until the set is empty.

    python -m tests.bench.bench_zset [--members 1000000] [--queries 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from kvserver.protocol import NEED_DATA, ErrorReply, encode_command
from kvserver.reply_parser import ReplyParser
from tests.support import RawClient, kvserver_process, redis_server_process

DEPTH = 1000  # commands in flight per pipeline round


def pipelined(port: int, commands: Iterable[bytes]) -> tuple[float, list[object]]:
    """Send the commands in rounds of DEPTH, read every reply; (seconds, last round's replies)."""
    client = RawClient(port, timeout=600)
    batch: list[bytes] = []
    last: list[object] = []
    started = time.perf_counter()

    def flush() -> list[object]:
        client.send(b"".join(batch))
        parser = ReplyParser()
        replies: list[object] = []
        while len(replies) < len(batch):
            reply = parser.next()
            if reply is NEED_DATA:
                parser.feed(client.sock.recv(1 << 20))
                continue
            if isinstance(reply, ErrorReply):
                raise RuntimeError(bytes(reply).decode())
            replies.append(reply)
        batch.clear()
        return replies

    for command in commands:
        batch.append(command)
        if len(batch) == DEPTH:
            last = flush()
    if batch:
        last = flush()
    took = time.perf_counter() - started
    client.sock.close()
    return took, last


def run(port: int, members: int, queries: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    scores = [rng.random() * members for _ in range(members)]
    zadd = (encode_command(b"ZADD", b"z", b"%.6f" % s, b"m%d" % i) for i, s in enumerate(scores))
    zadd_seconds, _ = pipelined(port, zadd)
    pipelined(port, (encode_command(b"ZADD", b"small", b"%d" % i, b"m%d" % i) for i in range(10_000)))

    def windows(key: bytes, size: int) -> Iterable[bytes]:
        width = 100.0  # scores are spread evenly over [0, size): ~100 members per window
        for _ in range(queries):
            low = rng.random() * (size - width)
            yield encode_command(b"ZRANGEBYSCORE", key, b"%.6f" % low, b"(%.6f" % (low + width), b"WITHSCORES")

    range_seconds, sample = pipelined(port, windows(b"z", members))
    small_seconds, _ = pipelined(port, windows(b"small", 10_000))
    returned = sum(len(r) // 2 for r in sample if isinstance(r, list)) / max(len(sample), 1)
    trims = members // 100 + 1  # each trim removes the next 100 score units: ~100 members
    trim_cmds = (encode_command(b"ZREMRANGEBYSCORE", b"z", b"-inf", b"(%d" % ((i + 1) * 100)) for i in range(trims))
    trim_seconds, _ = pipelined(port, trim_cmds)
    return {
        "zadd_per_s": members / zadd_seconds,
        "range_per_s": queries / range_seconds,
        "range_small_per_s": queries / small_seconds,
        "members_per_window": returned,
        "trim_per_s": trims / trim_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kvbench-zset-"))
    servers = {
        "kvserver": kvserver_process(root / "kv", "--appendfsync", "everysec"),
        "redis": redis_server_process(root / "redis", "--appendonly", "yes", "--appendfsync", "everysec"),
    }
    results: dict[str, dict[str, float]] = {}
    for name, server in servers.items():
        server.start()
        try:
            results[name] = run(server.port, args.members, args.queries, seed=7)
        finally:
            server.terminate(timeout=600)
    if args.json:
        print(json.dumps({"members": args.members, "queries": args.queries, "results": results}, indent=2))
        return 0
    kv, rd = results["kvserver"], results["redis"]
    print(f"{args.members:,} members, {args.queries:,} range queries, appendfsync everysec, pipeline {DEPTH}\n")
    print("| operation | kvserver | redis-server | ratio (kv/redis) |\n|---|---|---|---|")
    for label, key in [
        ("ZADD, members/s", "zadd_per_s"),
        (f"ZRANGEBYSCORE ~{kv['members_per_window']:.0f}-member windows on {args.members:,}, queries/s", "range_per_s"),
        ("the same windows on 10,000 members, queries/s", "range_small_per_s"),
        ("ZREMRANGEBYSCORE trims of ~100 members, trims/s", "trim_per_s"),
    ]:
        print(f"| {label} | {kv[key]:,.0f} | {rd[key]:,.0f} | {kv[key] / rd[key]:.2f} |")
    for name, r in results.items():
        print(
            f"\n{name}: {args.members:,}-member windows run at {r['range_per_s'] / r['range_small_per_s']:.2f}x "
            "the rate of 10k-member windows"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
