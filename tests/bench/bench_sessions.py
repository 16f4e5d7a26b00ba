"""P7: the session flow through ``client/``, 50 concurrent, on kvserver and on redis-server.

Each flow is what a login-browse-logout does: create, get, revoke. One asyncio process runs 50
flows at a time through ``AsyncSessionStore`` (the built-in client) until N flows are done;
the rate is flows per second. Both servers run appendfsync everysec.

    python -m tests.bench.bench_sessions [--flows 20000] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import time

from kvsession import AsyncSessionStore
from tests.bench.common import Row, each_server, main_for, percentile
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


def run(flows: int = 20_000) -> list[Row]:
    def measure(server: ServerProcess) -> dict[str, float]:
        return asyncio.run(run_flows(server.port, flows))

    results = each_server("everysec", measure)
    return [
        Row.of("P7", "session create+get+revoke, 50 concurrent", "flows/s", results, "flows_per_s", ">= 1.2"),
        Row.of("", "  p99 of one flow", "ms", results, "p99_ms"),
    ]


if __name__ == "__main__":
    sys.exit(main_for(run, flows=20_000))
