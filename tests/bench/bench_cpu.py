"""Server CPU per request beside throughput, kvserver and redis-server interleaved (issue 15).

Throughput on this shared 2-core machine swings by as much as the gaps being chased; the server
process's own CPU time (utime+stime from /proc/<pid>/stat) per request is much steadier. Each run
starts a fresh server, reads its CPU ticks, runs one redis-benchmark load, reads them again.
Runs alternate kvserver, redis-server, kvserver, ... and the median and spread are reported.

    python -m tests.bench.bench_cpu --runs 5 [--pipeline 16] [--tests set] [--appendfsync always]

P3 is ``--tests set --appendfsync always`` (the fsync policy is set on both servers).
``--slow-fsync-ms N`` makes every fdatasync of both servers N ms slower (tests/bench/slowsync.c,
LD_PRELOADed into both: the slow-disk case, since this machine has no device-mapper delay target).

kvserver runs the build found beside its sources (the mypyc-compiled modules after
``pip install -e .``); ``--builds compiled,pure`` names the kvserver builds each run starts before
redis-server: ``pure`` runs kvserver from source (KVSERVER_PURE_PYTHON=1), ``compiled`` the build.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import kvserver
from tests.bench.common import running

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def load(port: int, requests: int, pipeline: int, tests: str = "set,get") -> float:
    """Run ``tests`` (SET and GET), 50 clients, 200-byte values, 100k keys; return their mean req/s."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is not installed (apt-get install redis-tools)")
    argv = [binary, "-p", str(port), "-t", tests, "-n", str(requests), "-c", "50", "-d", "200"]
    argv += ["-r", "100000", "-P", str(pipeline), "-q"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rates = [float(m) for m in re.findall(r"([\d.]+) requests per second", out)]
    return statistics.mean(rates)


def slow_fsync(ms: float) -> None:
    """Build the fdatasync-delaying shim and preload it into every process started from now on."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("--slow-fsync-ms needs a C compiler (cc) to build tests/bench/slowsync.c")
    library = Path(tempfile.mkdtemp(prefix="kvbench-shim-")) / "slowsync.so"
    source = Path(__file__).with_name("slowsync.c")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"], check=True)
    os.environ["LD_PRELOAD"] = str(library)
    os.environ["SLOWSYNC_US"] = str(int(ms * 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--tests", default="set,get", help="redis-benchmark -t (set,get or set or get)")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="everysec")
    parser.add_argument("--slow-fsync-ms", type=float, default=0.0, help="every fdatasync this much slower")
    parser.add_argument("--builds", default="", help="kvserver builds to interleave: compiled,pure")
    args = parser.parse_args()
    if args.slow_fsync_ms:
        slow_fsync(args.slow_fsync_ms)
    tests = len(args.tests.split(","))
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
            with running(name, args.appendfsync) as process:
                assert process.proc is not None
                before = cpu_seconds(process.proc.pid)
                rate[label].append(load(process.port, args.requests, args.pipeline, args.tests))
                used = cpu_seconds(process.proc.pid) - before
            # one redis-benchmark test of --requests each
            cpu[label].append(used / (tests * args.requests) * 1e6)
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
        pairs = [k / r for k, r in zip(rate[label], rate["redis"], strict=True)]
        cpu_pairs = [k / r for k, r in zip(cpu[label], cpu["redis"], strict=True)]
        print(
            f"{label}: throughput ratio {ratio:.2f} (pairs {min(pairs):.2f}-{max(pairs):.2f}),"
            f" CPU per request ratio {cpu_ratio:.2f} (pairs {min(cpu_pairs):.2f}-{max(cpu_pairs):.2f})"
        )


if __name__ == "__main__":
    main()
