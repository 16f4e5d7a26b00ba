"""EVALSHA of a small script (redis-py's Lock release) on kvserver and on redis-server, next to a
plain GET (what the script runs): requests per second, 50 clients, no pipelining, everysec.

The script is loaded once (SCRIPT LOAD), then redis-benchmark sends EVALSHA <sha> 1
lock:<random> <token>: a GET and, for the few keys that hold the token, a DEL. Also the cost of
the instruction hook that catches runaway scripts: a tight Lua loop with and without it
(in-process, best of three).

    python -m tests.bench.bench_scripting [--requests 100000] [--json]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import redis

from tests.bench.common import Row, each_server, main_for
from tests.support import ServerProcess

RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def benchmark(port: int, requests: int, *command: str) -> float:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark is not installed (apt-get install redis-tools)")
    output = subprocess.run(
        [binary, "-p", str(port), "-c", "50", "-n", str(requests), "-r", "100000", "--csv", *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    line = output.splitlines()[-1]
    return float(line.split(",")[1].strip('"'))


def hook_cost(iterations: int = 30_000_000) -> tuple[float, float]:
    """Seconds for a tight loop without the count hook and with it (best of three each)."""
    from kvserver.scripting.engine import LuaState

    class Host:
        def call(self, argv: list[bytes], resp3: bool) -> tuple[object, bool]:
            return None, False

        def log(self, level: int, message: bytes) -> None:
            pass

        def tick(self) -> bool:
            return False

        def acl_check(self, argv: list[bytes]) -> bool:
            return True

    lua = LuaState()
    loop = lua.compile(b"local x = 0 for i = 1, %d do x = x + i end return 1" % iterations, b"@user_script")
    best = {0: float("inf"), 100_000: float("inf")}
    for _ in range(3):
        for hook in best:
            started = time.perf_counter()
            lua.run(loop, [], [], Host(), name="bench", resp3=False, hook=hook)
            best[hook] = min(best[hook], time.perf_counter() - started)
    return best[0], best[100_000]


def run(requests: int = 100_000) -> list[Row]:
    def measure(server: ServerProcess) -> dict[str, float]:
        client = redis.Redis(port=server.port)
        sha = client.script_load(RELEASE)
        client.close()
        evalsha = benchmark(server.port, requests, "EVALSHA", sha, "1", "lock:__rand_int__", "token")
        get = benchmark(server.port, requests, "GET", "lock:__rand_int__")
        return {"evalsha": evalsha, "get": get, "per_get": evalsha / get}

    results = each_server("everysec", measure)
    without, with_hook = hook_cost()
    return [
        Row.of("", "EVALSHA lock release (GET + compare), 50 clients", "req/s", results, "evalsha"),
        Row.of("", "GET, the same keys, 50 clients", "req/s", results, "get"),
        Row.of("", "EVALSHA / GET on the same server", "", results, "per_get"),
        Row("", "kvserver: 30M-iteration Lua loop, hook off / on", "s", without, with_hook),
    ]


if __name__ == "__main__":
    sys.exit(main_for(run, requests=100_000))
