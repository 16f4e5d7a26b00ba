"""Server CPU per request beside throughput, kvserver and redis-server interleaved (issue 15).

Throughput on this shared 2-core machine swings by as much as the gaps being chased; the server
process's own CPU time (utime+stime from /proc/<pid>/stat) per request is much steadier. Each run
starts a fresh server, reads its CPU ticks, runs one redis-benchmark load, reads them again.
Runs alternate kvserver, redis-server, kvserver, ... and the median and spread are reported.

    python -m tests.bench.bench_cpu --runs 5 [--pipeline 16] [--builds compiled,pure]

kvserver runs the build found beside its sources (the mypyc-compiled modules after
``pip install -e .``); ``--builds`` names the kvserver builds each run starts before redis-server:
``pure`` runs kvserver from source (KVSERVER_PURE_PYTHON=1), ``compiled`` the build (issue 15).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import kvserver
from tests.bench.common import running

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def load(port: int, requests: int, pipeline: int) -> float:
    """Run SET and GET, 50 clients, 200-byte values, 100k keys; return the mean req/s of the two."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is not installed (apt-get install redis-tools)")
    argv = [binary, "-p", str(port), "-t", "set,get", "-n", str(requests), "-c", "50", "-d", "200"]
    argv += ["-r", "100000", "-P", str(pipeline), "-q"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rates = [float(m) for m in re.findall(r"([\d.]+) requests per second", out)]
    return statistics.mean(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--builds", default="", help="kvserver builds to interleave: compiled,pure")
    args = parser.parse_args()
    modules, stale = kvserver.build_state(os.path.dirname(kvserver.__file__))
    installed = "compiled" if modules and stale is None else "pure"
    builds = args.builds.split(",") if args.builds else [installed]
    if "compiled" in builds and installed != "compiled":
        raise SystemExit(f"no usable compiled build ({stale or 'pip install -e . makes one'})")
    # (label, server, KVSERVER_PURE_PYTHON) in the order each run starts them
    variants = [(f"kvserver-{build}", "kvserver", build == "pure") for build in builds] + [("redis", "redis", False)]
    rate: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    for run in range(args.runs):
        for label, name, pure in variants:
            os.environ.pop("KVSERVER_PURE_PYTHON", None)
            if pure:
                os.environ["KVSERVER_PURE_PYTHON"] = "1"  # the server process inherits it
            with running(name, "everysec") as process:
                assert process.proc is not None
                before = cpu_seconds(process.proc.pid)
                rate[label].append(load(process.port, args.requests, args.pipeline))
                used = cpu_seconds(process.proc.pid) - before
            # SET and GET: two tests of --requests each
            cpu[label].append(used / (2 * args.requests) * 1e6)
            print(f"run {run + 1} {label}: {rate[label][-1]:,.0f} req/s, {cpu[label][-1]:.2f} us/req", flush=True)
    for label, _, _ in variants:
        r, c = rate[label], cpu[label]
        print(
            f"{label}: median {statistics.median(r):,.0f} req/s ({min(r):,.0f}-{max(r):,.0f}),"
            f" median {statistics.median(c):.2f} us/req ({min(c):.2f}-{max(c):.2f})"
        )
    for label, _, _ in variants[:-1]:
        ratio = statistics.median(rate[label]) / statistics.median(rate["redis"])
        cpu_ratio = statistics.median(cpu[label]) / statistics.median(cpu["redis"])
        print(f"{label}: throughput ratio {ratio:.2f}, CPU per request ratio {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
