"""Run every benchmark (P1-P7) and print one table: ``python -m tests.bench [--quick] [--json]``.

Each benchmark starts kvserver and redis-server itself; nothing else should load the machine
while it runs. --quick scales the loads down tenfold (for a smoke run, not for the record).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from tests.bench import bench_expiry, bench_persistence, bench_pubsub, bench_sessions, bench_throughput
from tests.bench.common import Row, print_rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    started = time.monotonic()
    rows: list[Row] = []
    rows += bench_throughput.run(200_000 // scale)
    rows += bench_persistence.run(1_000_000 // scale)
    rows += bench_expiry.run(1_000_000 // scale, 40.0 / scale + 2)
    rows += bench_sessions.run(20_000 // scale)
    rows += bench_pubsub.run(100_000 // scale)
    title = (
        f"kvserver vs redis-server, same run, {platform.machine()} {platform.processor() or ''}, "
        f"Python {platform.python_version()}, {time.monotonic() - started:.0f} s"
    )
    print_rows(rows, args.json, title)
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
