"""What every benchmark shares: both servers with equivalent settings, redis-benchmark, tables.

Each benchmark starts kvserver and redis-server on free ports, both with AOF on (no RDB), runs
the same load against each, and reports kvserver / redis-server ratios. They are scripts run by
hand (``python -m tests.bench``), never by pytest.
"""

from __future__ import annotations

import argparse
import array
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support import ServerProcess, kvserver_process, redis_server_process

SERVERS = ("kvserver", "redis")


@dataclass
class Row:
    """One measured quantity on both servers, against its target."""

    key: str  # P1..P7 or a free label
    workload: str
    unit: str
    kvserver: float
    redis: float
    target: str = ""  # e.g. ">= 0.90" (ratio kvserver / redis) or "<= 5 ms"
    ratio: float | None = None
    met: bool | None = None

    @classmethod
    def of(
        cls, key: str, workload: str, unit: str, results: dict[str, dict[str, float]], field: str, target: str = ""
    ) -> Row:
        """A row from both servers' results, ``results[server][field]``."""
        return cls(key, workload, unit, results["kvserver"][field], results["redis"][field], target)

    def __post_init__(self) -> None:
        if self.ratio is None and self.redis:
            self.ratio = self.kvserver / self.redis
        if self.met is None and self.target and self.ratio is not None:
            op, bound = self.target.split()
            self.met = self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)


def server(name: str, root: Path, appendfsync: str, *extra: str) -> ServerProcess:
    """kvserver or redis-server with the AOF on, the given fsync policy, no automatic rewrite."""
    if name == "kvserver":
        return kvserver_process(root / name, "--appendfsync", appendfsync, "--auto-aof-rewrite-percentage", "0", *extra)
    return redis_server_process(
        root / name,
        "--appendonly",
        "yes",
        "--appendfsync",
        appendfsync,
        "--aof-use-rdb-preamble",
        "no",
        "--auto-aof-rewrite-percentage",
        "0",
        *extra,
    )


@contextmanager
def running(name: str, appendfsync: str, *extra: str) -> Iterator[ServerProcess]:
    root = Path(tempfile.mkdtemp(prefix=f"kvbench-{name}-"))
    process = server(name, root, appendfsync, *extra).start(timeout=600)
    try:
        yield process
    finally:
        process.terminate(timeout=600)
        shutil.rmtree(root, ignore_errors=True)


def each_server(appendfsync: str, measure: Callable[[ServerProcess], dict[str, float]]) -> dict[str, dict[str, float]]:
    """Run ``measure`` on a fresh kvserver, then on a fresh redis-server."""
    results = {}
    for name in SERVERS:
        with running(name, appendfsync) as process:
            results[name] = measure(process)
    return results


def redis_benchmark(port: int, tests: str, clients: int, requests: int, pipeline: int = 1) -> dict[str, float]:
    """Requests per second for each of ``tests`` (redis-benchmark -t), keyspace of 100k keys."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is not installed (apt-get install redis-tools)")
    output = subprocess.run(
        [
            binary,
            "-p",
            str(port),
            "-t",
            tests,
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-r",
            "100000",
            "-d",
            "200",
            "--csv",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    rates = {}
    for line in output.splitlines()[1:]:
        fields = [f.strip('"') for f in line.split(",")]
        rates[fields[0]] = float(fields[1])
    return rates


def ping_during(port: int, busy: Callable[[], float]) -> dict[str, float]:
    """PING round trips (ms) on one connection while ``busy()`` runs; with its result as "seconds".

    The pinger is a process of its own (``tests/bench/pinger.py``): in a thread here, a reply
    would wait for the interpreter's lock while ``busy`` polls the server.
    """
    pinger = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.pinger", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
    )
    assert pinger.stdout is not None
    try:
        if pinger.stdout.readline() != b"ready\n":  # connected, and one PING answered: not counted
            raise SystemExit("the pinger could not PING the server")
        seconds = busy()
    finally:
        pinger.terminate()
        output = pinger.stdout.read()
        pinger.wait()
    latencies = array.array("d", output[: len(output) // 8 * 8]).tolist()
    return {"seconds": seconds, "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies)}


def main_for(run: Callable[..., list[Row]], **defaults: float | bool) -> int:
    """The command line of one benchmark: ``--<option> N`` (or a flag) per default, and ``--json``."""
    parser = argparse.ArgumentParser()
    for name, default in defaults.items():
        option = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(option, action="store_true")
        else:
            parser.add_argument(option, type=type(default), default=default)
    parser.add_argument("--json", action="store_true")
    args = vars(parser.parse_args())
    as_json = args.pop("json")
    print_rows(run(**args), as_json)
    return 0


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_rows(rows: list[Row], as_json: bool, title: str = "") -> None:
    if as_json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return
    if title:
        print(f"{title}\n")
    print("| # | workload | kvserver | redis-server | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        print(
            f"| {row.key} | {row.workload} | {row.kvserver:,.2f} {row.unit} | {row.redis:,.2f} {row.unit} | "
            f"{ratio} | {row.target} | {met} |"
        )
