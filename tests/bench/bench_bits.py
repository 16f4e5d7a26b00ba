"""Bitmap and HyperLogLog benchmark, side by side with redis-server (run by hand, not by pytest).

Both servers run with appendonly yes and appendfsync everysec, commands pipelined 1,000 deep
over one connection. Rates, in operations per second:
1. PFADD of one new element to a dense HyperLogLog, and to a sparse one of about 2 KB;
2. PFCOUNT of a dense one whose cached count a PFADD just invalidated (the pair is counted);
3. PFADD of 3,000 elements to a new key (sparse, promoted to dense on the way);
4. PFMERGE of two dense HyperLogLogs;
5. SETBIT and GETBIT at random offsets of a 1 MB bitmap; BITCOUNT and BITOP AND of 1 MB strings.

    python -m tests.bench.bench_bits [--ops 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable

from kvserver.protocol import encode_command
from tests.bench.bench_zset import DEPTH, pipelined
from tests.bench.common import each_server

BITMAP_BITS = 8 * 1024 * 1024


def rate(port: int, commands: Iterable[bytes], count: int) -> float:
    seconds, _ = pipelined(port, commands)
    return count / seconds


def run(port: int, ops: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    setup = [
        encode_command(b"PFADD", b"dense", *[b"d%d" % i for i in range(20_000)]),
        encode_command(b"PFADD", b"dense2", *[b"e%d" % i for i in range(20_000)]),
        encode_command(b"PFADD", b"sparse", *[b"s%d" % i for i in range(1_000)]),
        encode_command(b"SETBIT", b"bitmap", b"%d" % (BITMAP_BITS - 1), b"1"),
        encode_command(b"SETBIT", b"bitmap2", b"%d" % (BITMAP_BITS - 1), b"1"),
    ]
    pipelined(port, setup)
    results = {
        "pfadd_dense": rate(port, (encode_command(b"PFADD", b"dense", b"n%d" % i) for i in range(ops)), ops),
        # the same element each time: the sparse value keeps its size (no promotion midway)
        "pfadd_sparse": rate(
            port, (encode_command(b"PFADD", b"sparse", b"again") for _ in range(ops // 10)), ops // 10
        ),
        "pfadd_pfcount": rate(
            port,
            (
                command
                for i in range(ops // 10)
                for command in (encode_command(b"PFADD", b"dense", b"c%d" % i), encode_command(b"PFCOUNT", b"dense"))
            ),
            ops // 10,
        ),
        "pfadd_3000_new": rate(
            port,
            (
                encode_command(b"PFADD", b"new%d" % k, *[b"%d" % rng.randrange(10**9) for _ in range(3000)])
                for k in range(ops // 1000)
            ),
            ops // 1000,
        ),
        "pfmerge_dense": rate(
            port, (encode_command(b"PFMERGE", b"merged", b"dense", b"dense2") for _ in range(ops // 10)), ops // 10
        ),
        "setbit": rate(
            port,
            (encode_command(b"SETBIT", b"bitmap", b"%d" % rng.randrange(BITMAP_BITS), b"1") for _ in range(ops)),
            ops,
        ),
        "getbit": rate(
            port, (encode_command(b"GETBIT", b"bitmap", b"%d" % rng.randrange(BITMAP_BITS)) for _ in range(ops)), ops
        ),
        "bitcount_1mb": rate(port, (encode_command(b"BITCOUNT", b"bitmap") for _ in range(ops // 100)), ops // 100),
        "bitop_1mb": rate(
            port,
            (encode_command(b"BITOP", b"AND", b"dest", b"bitmap", b"bitmap2") for _ in range(ops // 100)),
            ops // 100,
        ),
    }
    return results


LABELS = [
    ("PFADD 1 element, dense", "pfadd_dense"),
    ("PFADD 1 element, sparse ~2 KB", "pfadd_sparse"),
    ("PFADD + PFCOUNT (count recomputed), dense, pairs", "pfadd_pfcount"),
    ("PFADD 3,000 elements to a new key", "pfadd_3000_new"),
    ("PFMERGE of two dense", "pfmerge_dense"),
    ("SETBIT at random in 1 MB", "setbit"),
    ("GETBIT at random in 1 MB", "getbit"),
    ("BITCOUNT of 1 MB", "bitcount_1mb"),
    ("BITOP AND of two 1 MB strings", "bitop_1mb"),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = each_server("everysec", lambda server: run(server.port, args.ops, seed=7))
    if args.json:
        print(json.dumps({"ops": args.ops, "results": results}, indent=2))
        return 0
    kv, rd = results["kvserver"], results["redis"]
    print(f"appendfsync everysec, pipeline {DEPTH}, rates in operations/s\n")
    print("| operation | kvserver | redis-server | ratio (kv/redis) |\n|---|---|---|---|")
    for label, key in LABELS:
        print(f"| {label} | {kv[key]:,.0f} | {rd[key]:,.0f} | {kv[key] / rd[key]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
