"""Persistence benchmarks, side by side with redis-server (run by hand, not by pytest).

1. Replay: N session-sized writes (~40 B key, ~200 B value, absolute deadline) are loaded into
   kvserver and into redis-server (appendonly yes on both), then each is restarted and the time to
   load its log is measured (process start to "Ready to accept connections").
2. Rewrite latency: with N keys loaded, BGREWRITEAOF runs while a client PINGs; p50/p99/max of the
   PING round trip during the rewrite, on both servers.

    python -m tests.bench.bench_persistence [--keys 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from tests.support import ServerProcess, kvserver_process, load_keys, redis_server_process, wait_for


def load(port: int, count: int) -> None:
    load_keys(port, count, int(time.time() * 1000) + 86_400_000, b"s" * 200, b"session:%032d")


def timed_start(server: ServerProcess) -> float:
    started = time.perf_counter()
    server.start(timeout=600)
    return time.perf_counter() - started


def ping_during(port: int, busy: callable) -> dict[str, float]:  # type: ignore[valid-type]
    latencies: list[float] = []
    stop = threading.Event()

    def pinger() -> None:
        r = redis.Redis(port=port)
        while not stop.is_set():
            t = time.perf_counter()
            r.ping()
            latencies.append(time.perf_counter() - t)
        r.close()

    thread = threading.Thread(target=pinger)
    thread.start()
    took = busy()
    stop.set()
    thread.join()
    latencies.sort()
    return {
        "seconds": took,
        "pings": len(latencies),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def rewrite_and_wait(port: int) -> float:
    r = redis.Redis(port=port)
    before = r.info("persistence")
    count_key = "aof_rewrites" if "aof_rewrites" in before else None
    started = time.perf_counter()
    r.bgrewriteaof()
    if count_key:
        wait_for(lambda: r.info("persistence")[count_key] > before[count_key], timeout=600)
    else:
        wait_for(
            lambda: (
                r.info("persistence")["aof_rewrite_in_progress"] == 0
                and r.info("persistence")["aof_last_bgrewrite_status"] == "ok"
            ),
            timeout=600,
            interval=0.05,
        )
    took = time.perf_counter() - started
    r.close()
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kvbench-"))
    results: dict[str, dict[str, float]] = {}
    servers = {
        "kvserver": lambda: kvserver_process(
            root / "kv", "--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0"
        ),
        "redis": lambda: redis_server_process(
            root / "redis",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--aof-use-rdb-preamble",
            "no",
            "--auto-aof-rewrite-percentage",
            "0",
        ),
    }
    for name, make in servers.items():
        server = make()
        server.start()
        load(server.port, args.keys)
        latency = ping_during(server.port, lambda port=server.port: rewrite_and_wait(port))
        # after the rewrite both logs are compact; append the same writes again so replay reads N records
        load(server.port, args.keys)
        server.terminate(timeout=600)
        restarted = make()
        if name == "redis":
            restarted.port = server.port
            restarted.argv[restarted.argv.index("--port") + 1] = str(server.port)
        replay_seconds = timed_start(restarted)
        r = redis.Redis(port=restarted.port)
        assert r.dbsize() == args.keys, r.dbsize()
        rss = int(Path(f"/proc/{restarted.pid}/statm").read_text().split()[1]) * 4096
        r.close()
        restarted.terminate(timeout=600)
        results[name] = {
            "replay_seconds": replay_seconds,
            "rss_mb": rss / 1e6,
            **{f"rewrite_{k}": v for k, v in latency.items()},
        }
    kv, rd = results["kvserver"], results["redis"]
    if args.json:
        print(json.dumps({"keys": args.keys, "results": results}, indent=2))
        return 0
    print(f"{args.keys} session-sized keys (40 B key, 200 B value, deadline), appendfsync everysec\n")
    print("| measure | kvserver | redis-server | ratio (kv/redis) |\n|---|---|---|---|")
    for label, key in [
        ("replay 2N records at startup (s)", "replay_seconds"),
        ("RSS after replay (MB)", "rss_mb"),
        ("rewrite duration (s)", "rewrite_seconds"),
        ("PING p50 during rewrite (ms)", "rewrite_p50_ms"),
        ("PING p99 during rewrite (ms)", "rewrite_p99_ms"),
        ("PING max during rewrite (ms)", "rewrite_max_ms"),
    ]:
        print(f"| {label} | {kv[key]:.2f} | {rd[key]:.2f} | {kv[key] / max(rd[key], 1e-9):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
