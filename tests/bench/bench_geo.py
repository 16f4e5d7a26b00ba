"""GEOSEARCH speed, side by side with redis-server (run by hand, not by pytest).

Both servers (appendfsync everysec) get the same 100,000-point key ``bench``, then
``redis-benchmark -n 2000 -c 10 GEOSEARCH bench FROMLONLAT 11 41 BYRADIUS 100 km ASC COUNT 10
WITHDIST`` runs against each ``--runs`` times. Two layouts of the points: ``cluster`` (uniform in
40 x 30 degrees around the centre: ~1,270 points in the search's boxes, ~280 matches) and
``world`` (uniform over the globe: a few points near the centre).

    python -m tests.bench.bench_geo [--layout cluster|world] [--runs 3] [--requests 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from kvserver.protocol import encode_command
from tests.bench.bench_zset import pipelined
from tests.support import kvserver_process, redis_server_process, require_tool

SEARCH = ["GEOSEARCH", "bench", "FROMLONLAT", "11", "41", "BYRADIUS", "100", "km", "ASC", "COUNT", "10", "WITHDIST"]


def load(port: int, layout: str, points: int) -> None:
    rng = random.Random(1)
    commands = []
    for chunk in range(0, points, 10_000):
        args: list[bytes] = [b"GEOADD", b"bench"]
        for n in range(chunk, min(points, chunk + 10_000)):
            if layout == "world":
                lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
            else:
                lon, lat = rng.uniform(-9, 31), rng.uniform(26, 56)
            args += [b"%.6f" % lon, b"%.6f" % lat, b"m%d" % n]
        commands.append(encode_command(*args))
    pipelined(port, commands)


def benchmark(port: int, requests: int) -> float:
    """requests/s as redis-benchmark -q reports it."""
    tool = require_tool("redis-benchmark")
    out = subprocess.run(
        [tool, "-p", str(port), "-n", str(requests), "-c", "10", "-q", *SEARCH],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    rates = re.findall(r"([0-9.]+) requests per second", out)
    return float(rates[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layout", choices=["cluster", "world"], default="cluster")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kvbench-geo-"))
    servers = {
        "kvserver": kvserver_process(root / "kv", "--appendfsync", "everysec"),
        "redis": redis_server_process(root / "redis", "--appendonly", "yes", "--appendfsync", "everysec"),
    }
    results: dict[str, list[float]] = {}
    for name, server in servers.items():
        server.start()
        try:
            load(server.port, args.layout, args.points)
            results[name] = [benchmark(server.port, args.requests) for _ in range(args.runs)]
        finally:
            server.terminate(timeout=600)
    if args.json:
        print(json.dumps({"layout": args.layout, "points": args.points, "results": results}, indent=2))
        return 0
    print(f"{' '.join(SEARCH)} on {args.points:,} points ({args.layout}), -n {args.requests} -c 10\n")
    print("| server | requests/s per run |\n|---|---|")
    for name, rates in results.items():
        print(f"| {name} | {', '.join(f'{r:,.0f}' for r in rates)} |")
    ratios = [kv / rd for kv, rd in zip(results["kvserver"], results["redis"], strict=True)]
    print(f"\nratio kvserver/redis per run: {', '.join(f'{r:.3f}' for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
