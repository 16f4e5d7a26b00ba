"""The Python cost of one read through the connection layer, in-process (run by hand).

A real ``Connection`` and ``Server`` on a real loop (uvloop, as the server runs), with a
transport that only counts bytes: what this times is everything kvserver's own code does for a
read (parse, dispatch, the command, the reply, the bookkeeping), without the socket syscalls,
which every server pays alike; "set x1 logged" adds a real append-only log (everysec) and a loop
turn per read, so the log's flush and the held reply's release are counted too. It is the
figure to steer the per-request work by on a shared machine: the best of many repeats is steady
to a few percent where a redis-benchmark run moves by tens.

    python -m tests.bench.bench_hotpath                  # GET and SET, 1 and 16 commands per read
    python -m tests.bench.bench_hotpath --repeats 50 --json

On a loaded machine, count instructions instead of time (valgrind's callgrind counts the same
whatever else runs): ``--instructions`` runs each case under callgrind at two numbers of reads and
prints the difference per request, so the interpreter's start-up cancels out.

    python -m tests.bench.bench_hotpath --instructions

``--instructions`` also counts one session flow through the logged connection: the 15 commands
``kvsession`` sends for create, get and revoke (bench_sessions, P7), in its 5 reads, per flow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop

from kvserver.aof import AppendOnlyLog
from kvserver.config import Config
from kvserver.database import Database
from kvserver.protocol import encode_command
from kvserver.server import Connection, Server

VALUE = b"x" * 200


class CountingTransport(asyncio.Transport):
    """Takes the replies and keeps only their size."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 6379)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def read_of(command: str, pipeline: int) -> bytes:
    parts = [
        encode_command(b"SET", b"key:%06d" % i, VALUE) if command == "set" else encode_command(b"GET", b"key:%06d" % i)
        for i in range(pipeline)
    ]
    return b"".join(parts)


def per_request_ns(feed: Callable[[], None], requests_per_call: int, calls: int, repeats: int) -> float:
    """The best of ``repeats`` timings of ``calls`` reads, per request."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            feed()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best / requests_per_call


CASES = [(command, pipeline) for command in ("get", "set") for pipeline in (1, 16)]
# and a SET per read through a real append-only log (everysec), with a loop turn after each read:
# the log's flush and the release of the held reply run once per read, as at P1
LOGGED = "set x1 logged"


def connection(log_dir: Path | None = None) -> Connection:
    """A connection to a fresh server (with its log in ``log_dir``), 16 keys set."""
    config = Config()
    db = Database(config)
    server = Server(config, db)
    if log_dir is not None:
        config.dir = str(log_dir)
        config.appendfsync = "everysec"  # as at P1
        log = AppendOnlyLog(config, db.keyspace_of(0))
        log.open(0)
        log.attach(asyncio.get_running_loop(), server.release)
        db.persistence = log
    conn = Connection(server)
    conn.connection_made(CountingTransport())
    for i in range(16):
        db.execute(conn.state, [b"SET", b"key:%06d" % i, VALUE])  # type: ignore[arg-type]
    return conn


SESSION_FLOW = "session flow"
FLOW_SHARE = 4  # --instructions runs requests // FLOW_SHARE session flows
FIELDS = (b"user", b"hash", b"data", b"meta", b"created", b"seen", b"idle", b"until", b"browser", b"moved")


def flow_reads(i: int, now_ms: int) -> list[bytes]:
    """The reads of one session flow as ``kvsession`` sends them (commands as MONITOR shows)."""
    token = b"0a04token%08d" % i
    session = b"session:{0a04}:s:" + token
    user = b"session:{0a04}:u:user%d" % (i % 1000)
    until = b"%d" % (now_ms + 7 * 86_400_000)
    values = (b"user%d" % (i % 1000), b"h" * 32, b"d" * 40, b"m" * 10, b"%d" % now_ms, b"%d" % now_ms)
    record = [x for pair in zip(FIELDS, (*values, b"0", until, b"", b"0"), strict=True) for x in pair]
    return [
        b"".join(
            [
                encode_command(b"MULTI"),
                encode_command(b"HSET", session, *record),
                encode_command(b"PEXPIREAT", session, until),
                encode_command(b"ZADD", user, until, token),
                encode_command(b"PEXPIREAT", user, until, b"NX"),
                encode_command(b"PEXPIREAT", user, until, b"GT"),
                encode_command(b"ZREMRANGEBYSCORE", user, b"-inf", b"(%d" % now_ms),
                encode_command(b"EXEC"),
            ]
        ),
        encode_command(b"HMGET", session, *FIELDS),
        encode_command(b"WATCH", session),
        encode_command(b"HMGET", session, *FIELDS),
        encode_command(b"MULTI")
        + encode_command(b"DEL", session)
        + encode_command(b"ZREM", user, token)
        + encode_command(b"EXEC"),
    ]


async def flows(conn: Connection, first: int, count: int, marker: Callable[[], object] = lambda: None) -> None:
    """``count`` session flows, a loop turn after each read; ``marker`` runs just before and
    just after them (the reads are built first)."""
    now_ms = time.time_ns() // 1_000_000
    reads = [data for i in range(first, first + count) for data in flow_reads(i, now_ms)]
    marker()
    for data in reads:
        conn.data_received(data)
        await asyncio.sleep(0)
    marker()


async def logged_reads(conn: Connection, reads: int) -> None:
    data = read_of("set", 1)
    for _ in range(reads):
        conn.data_received(data)
        await asyncio.sleep(0)  # the log's flush, scheduled by the write, runs (and releases the reply)


async def measure(calls: int, repeats: int, cases: list[tuple[str, int]] = CASES) -> dict[str, float]:
    conn = connection()
    results: dict[str, float] = {}
    for command, pipeline in cases:
        data = read_of(command, pipeline)

        def feed(data: bytes = data) -> None:
            conn.data_received(data)

        results[f"{command} x{pipeline}"] = per_request_ns(feed, pipeline, calls // pipeline, repeats)
        await asyncio.sleep(0)  # let what the reads scheduled run
    with tempfile.TemporaryDirectory() as tmp:
        logged = connection(Path(tmp))
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter_ns()
            await logged_reads(logged, calls)
            best = min(best, (time.perf_counter_ns() - start) / calls)
        results[LOGGED] = best
        await logged.db.persistence.close()  # (its file and sync thread, before the directory goes)
    return results


def instructions_per_request(requests: int) -> dict[str, float]:
    """Each case's instructions per request, counted by callgrind in one process: the process
    calls ``getppid`` (which nothing else here calls) before and after each case's reads, and
    callgrind dumps its counters there (``--dump-before``), so each case's count is one dump."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}"),
                *(sys.executable, "-m", "tests.bench.bench_hotpath", "--marked", str(requests)),
            ],
            capture_output=True,
            check=True,
        )
        totals = []
        for dump in sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:])):
            found = re.search(r"^summary: (\d+)", dump.read_text(), re.MULTILINE)
            assert found is not None, dump
            totals.append(int(found.group(1)))
    # dump k covers what ran between marker k-1 and marker k: the cases are the even-numbered gaps
    measured = totals[1::2]
    names = [f"{command} x{pipeline}" for command, pipeline in CASES] + [LOGGED, SESSION_FLOW]
    counts = [requests] * (len(names) - 1) + [requests // FLOW_SHARE]
    return {name: total / n for name, total, n in zip(names, measured, counts, strict=True)}


async def marked(requests: int) -> None:
    """What ``--instructions`` counts: each case's reads between two ``getppid`` markers."""
    conn = connection()
    for command, pipeline in CASES:
        data = read_of(command, pipeline)
        for _ in range(200 // pipeline):  # warm up
            conn.data_received(data)
        os.getppid()
        for _ in range(requests // pipeline):
            conn.data_received(data)
        os.getppid()
        await asyncio.sleep(0)
    with tempfile.TemporaryDirectory() as tmp:
        logged = connection(Path(tmp))
        await logged_reads(logged, 200)
        os.getppid()
        await logged_reads(logged, requests)
        os.getppid()
        await flows(logged, 0, 50)  # warm up
        await flows(logged, 1000, requests // FLOW_SHARE, os.getppid)
        await logged.db.persistence.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--case", help="one case only, e.g. getx16")
    parser.add_argument("--marked", type=int, help=argparse.SUPPRESS)  # what --instructions runs
    args = parser.parse_args()
    if args.marked:
        uvloop.run(marked(args.marked))
        return
    if args.instructions:
        counts = instructions_per_request(4_000)
        print(
            json.dumps(counts)
            if args.json
            else "\n".join(
                f"{k:13} {v:8,.0f} instructions/{'flow' if k == SESSION_FLOW else 'request'}" for k, v in counts.items()
            )
        )
        return
    cases = CASES
    if args.case:  # (the logged case always runs)
        command, pipeline = args.case.split("x")
        cases = [(command, int(pipeline))]
    results = uvloop.run(measure(args.calls, args.repeats, cases))
    if args.json:
        print(json.dumps(results))
        return
    for name, ns in results.items():
        print(f"{name:13} {ns / 1000:6.2f} µs/request")


if __name__ == "__main__":
    main()
