"""The Lua libraries' cost per call, side by side with redis-server's C ones (run by hand).

The same Lua loop (N calls of one library function on a BullMQ-sized job: a 10-field table of
strings, integers, a float and booleans) runs in a bare lupa runtime with
kvserver.scripting.lualibs installed, and in redis-server through one EVAL; the best of five
rounds, divided by N, is the cost of one call (the loop's own cost included on both sides).

    python -m tests.bench.bench_lualibs [--calls 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

from tests.support import lua_with_libraries, redis_server_process

SETUP = """
local t = {name = "job", id = 12345, attempts = 3, delay = 0, priority = 1.5, timestamp = 1700000000123,
  lifo = false, removeOnComplete = true, queue = "default", data = '{"x":1}'}
local j = cjson.encode(t)
local m = cmsgpack.pack(t)
local x
"""

CALLS = {
    "cjson.encode (10-field table)": "cjson.encode(t)",
    "cjson.decode (its 163 bytes)": "cjson.decode(j)",
    "cmsgpack.pack (10-field table)": "cmsgpack.pack(t)",
    "cmsgpack.unpack (its 117 bytes)": "cmsgpack.unpack(m)",
    "bit.band (two numbers)": "bit.band(0x12345678, 0x0ff0ff0f)",
    "struct.pack ('>iid')": "struct.pack('>iid', 1, 2, 3.5)",
}


def best_of(rounds: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.calls
    lua = lua_with_libraries()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = redis_server_process(Path(tmp)).start()
        try:
            client = redis.Redis(port=server.port)
            for name, call in CALLS.items():
                script = f"{SETUP}for i = 1, {n} do x = {call} end return 0"
                ours = best_of(5, partial(lua.execute, script))
                theirs = best_of(5, partial(client.eval, script, 0))
                rows.append(
                    {
                        "call": name,
                        "kvserver_us": round(1e6 * ours / n, 2),
                        "redis_us": round(1e6 * theirs / n, 2),
                        "ratio": round(ours / theirs, 1),
                    }
                )
            client.close()
        finally:
            server.terminate()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| call | kvserver (µs) | redis-server (µs) | ratio |\n|---|---|---|---|")
        for row in rows:
            print(f"| {row['call']} | {row['kvserver_us']} | {row['redis_us']} | {row['ratio']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
