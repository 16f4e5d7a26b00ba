"""Run Redis 7.0.15's own test suite against kvserver, one unit per fresh server, and hold a floor.

Usage: python .ci/conformance.py [--write] [UNIT ...]

Each unit listed in .ci/conformance-floor.txt (``unit count``) runs against a new kvserver on a free
port with its own data directory, so a unit that hangs or crashes the server cannot spoil the next
one. The run fails when any unit passes fewer tests than its floor. ``--write`` records the counts
reached as the new floor (only ever raising it). Without ../shared/conformance it says so and exits 0.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / ".ci" / "conformance-floor.txt"
RUNNER = ROOT.parent / "shared" / "conformance" / "run-tcl.sh"
UNIT_LINE = re.compile(r"^(unit/\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$")


def read_floor() -> dict[str, int]:
    floor: dict[str, int] = {}
    for line in FLOOR.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            unit, count = line.split()
            floor[unit] = int(count)
    return floor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kvserver exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("kvserver did not answer PING")


# The suite's no-progress limit per test is 30 s, except for units with one test that runs long for
# the suite's own TCL client too: on this 2-core machine redis-server 7.0.15 takes 45 s for
# unit/hyperloglog's "Fuzzing dense/sparse encoding" and 37 s for unit/geo's "GEOSEARCH fuzzy test".
LONG_TESTS = {"unit/hyperloglog": 150, "unit/geo": 120}


def run_unit(unit: str, results: Path) -> tuple[int, str]:
    """Passed count and the status column for one unit, on a fresh server."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        log = open(Path(data) / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "kvserver", "--port", str(port), "--dir", data, "--appendfsync", "everysec"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        try:
            wait_ready(port, proc)
            env = dict(os.environ, TCL_UNITS=unit, RESULTS_DIR=str(results / unit.replace("/", "_")),
                       UNIT_TIMEOUT=os.environ.get("UNIT_TIMEOUT", "300"),
                       TCL_TEST_TIMEOUT=os.environ.get("TCL_TEST_TIMEOUT", str(LONG_TESTS.get(unit, 30))))
            out = subprocess.run(["bash", str(RUNNER), str(port)], env=env, capture_output=True, text=True).stdout
        finally:
            proc.kill()
            proc.wait()
            log.close()
    for line in out.splitlines():
        match = UNIT_LINE.match(line)
        if match and match.group(1) == unit:
            return int(match.group(2)), f"failed {match.group(3)}, {match.group(7).strip()}"
    return 0, "no result line: " + (out.strip().splitlines() or ["(no output)"])[-1]


def main(argv: list[str]) -> int:
    write = "--write" in argv
    if not RUNNER.exists():
        print(f"conformance: {RUNNER} not found; skipping the Redis test-suite floor")
        return 0
    floor = read_floor()
    units = [a for a in argv if not a.startswith("--")] or list(floor)
    results = Path(tempfile.mkdtemp(prefix="kv-conformance-"))
    below = []
    reached: dict[str, int] = {}
    print(f"{'unit':28} {'floor':>5} {'passed':>6}  status")
    for unit in units:
        passed, status = run_unit(unit, results)
        reached[unit] = passed
        mark = "" if passed >= floor.get(unit, 0) else "   <-- BELOW FLOOR"
        if mark:
            below.append(unit)
        print(f"{unit:28} {floor.get(unit, 0):5} {passed:6}  {status}{mark}", flush=True)
    print(f"logs: {results} (grep -h '^\\[err\\]' {results}/*/*.log)")
    if write:
        new = dict(floor)
        for unit, passed in reached.items():
            new[unit] = max(passed, floor.get(unit, 0))
        FLOOR.write_text("".join(f"{unit} {count}\n" for unit, count in new.items()))
        print(f"floor written to {FLOOR}")
    if below:
        print(f"conformance: {len(below)} unit(s) below their floor: {' '.join(below)}")
        return 1
    print(f"conformance: all {len(units)} units at or above their floor ({sum(reached.values())} tests passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
