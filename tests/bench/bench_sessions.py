"""P7: the session flow through ``client/``, 50 concurrent, on kvserver and on redis-server.

Each flow is what a login-browse-logout does: create, get, revoke. One asyncio process runs 50
flows at a time through ``AsyncSessionStore`` (the built-in client) until N flows are done;
the rate is flows per second. Both servers run appendfsync everysec.

The load generator is Python and shares the two cores with the server, so one run's ratio moves
by ±0.2: ``--runs N`` interleaves N runs (kvserver, redis-server, kvserver, ...) and reports the
medians, the range of the per-pair ratios, and each server's CPU per flow (utime+stime of the
process over the run, as bench_cpu), which the generator's noise moves much less.

    python -m tests.bench.bench_sessions [--flows 20000] [--runs 5] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import time

from kvsession import AsyncSessionStore
from tests.bench.bench_cpu import cpu_seconds
from tests.bench.common import Row, each_server, main_for, median, percentile
from tests.support import ServerProcess

CONCURRENCY = 50


async def run_flows(port: int, count: int) -> dict[str, float]:
    latencies: list[float] = []
    async with AsyncSessionStore.from_url(f"redis://127.0.0.1:{port}/0") as store:
        remaining = iter(range(count))

        async def worker() -> None:
            for i in remaining:
                started = time.perf_counter()
                session = await store.create(f"user{i % 1000}", {"cart": [i], "theme": "dark"}, metadata={"ip": "x"})
                assert session.token is not None
                assert await store.get(session.token) is not None
                assert await store.revoke(session.token)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        took = time.perf_counter() - started
    return {"flows_per_s": count / took, "p99_ms": percentile(latencies, 0.99) * 1000}


def run(flows: int = 20_000, runs: int = 1) -> list[Row]:
    def measure(server: ServerProcess) -> dict[str, float]:
        assert server.proc is not None
        before = cpu_seconds(server.proc.pid)
        result = asyncio.run(run_flows(server.port, flows))
        result["cpu_us_per_flow"] = (cpu_seconds(server.proc.pid) - before) / flows * 1e6
        return result

    each = [each_server("everysec", measure) for _ in range(runs)]
    fields = ("flows_per_s", "p99_ms", "cpu_us_per_flow")
    results = {name: {f: median([r[name][f] for r in each]) for f in fields} for name in ("kvserver", "redis")}
    ratios = sorted(r["kvserver"]["flows_per_s"] / r["redis"]["flows_per_s"] for r in each)
    spread = f" ({runs} runs: pairs {ratios[0]:.2f}-{ratios[-1]:.2f})" if runs > 1 else ""
    return [
        Row.of("P7", f"session create+get+revoke, 50 concurrent{spread}", "flows/s", results, "flows_per_s", ">= 1.2"),
        Row.of("", "  p99 of one flow", "ms", results, "p99_ms"),
        Row.of("", "  server CPU per flow", "us", results, "cpu_us_per_flow"),
    ]


if __name__ == "__main__":
    sys.exit(main_for(run, flows=20_000, runs=1))
