"""P1-P3: raw command throughput with redis-benchmark, side by side (run by hand).

P1  SET and GET, 50 clients, no pipelining, appendfsync everysec on both
P2  SET and GET, 50 clients, pipeline 16, appendfsync everysec on both
P3  SET, 50 clients, appendfsync always on both (kvserver's group commit vs Redis's fsync)

    python -m tests.bench.bench_throughput [--requests 200000] [--json]
"""

from __future__ import annotations

import sys

from tests.bench.common import Row, each_server, main_for, redis_benchmark


def run(requests: int = 200_000) -> list[Row]:
    plain = each_server("everysec", lambda s: redis_benchmark(s.port, "set,get", 50, requests))
    piped = each_server("everysec", lambda s: redis_benchmark(s.port, "set,get", 50, requests * 5, pipeline=16))
    always = each_server("always", lambda s: redis_benchmark(s.port, "set", 50, requests // 2))
    rows = [
        Row.of(key, f"{command}, 50 clients{pipeline}, everysec", "req/s", results, command, target)
        for key, results, pipeline, target in [("P1", plain, "", ">= 0.90"), ("P2", piped, ", pipeline 16", ">= 0.45")]
        for command in ("SET", "GET")
    ]
    p1_set = rows[0].ratio or 0.0  # P3's target: durability costs no more than it costs Redis
    rows.append(Row.of("P3", "SET, 50 clients, appendfsync always", "req/s", always, "SET", f">= {p1_set - 0.05:.2f}"))
    return rows


if __name__ == "__main__":
    sys.exit(main_for(run, requests=200_000))
