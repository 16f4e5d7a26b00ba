"""INFO against kvserver and redis-server 7.0 side by side: the sections, the fields tools read in
Redis's order, errorstats byte for byte, the pub/sub counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support import RawClient, ServerProcess, call, redis_server_process, request, run_script, wait_for

Spawn = Callable[..., ServerProcess]

# fields Redis 7.0 prints that kvserver must print too (values may differ: ids, times, memory)
REDIS_FIELDS = {
    "Server": ["monotonic_clock", "process_supervised", "run_id", "lru_clock", "config_file", "io_threads_active"],
    "Clients": ["cluster_connections", "clients_in_timeout_table"],
    "Memory": [
        "used_memory_peak",
        "used_memory_peak_human",
        "used_memory_peak_perc",
        "total_system_memory",
        "total_system_memory_human",
        "mem_fragmentation_bytes",
        "lazyfreed_objects",
    ],
    "Stats": [
        "evicted_clients",
        "pubsub_channels",
        "pubsub_patterns",
        "pubsubshard_channels",
        "tracking_total_keys",
        "unexpected_error_replies",
    ],
    "Replication": [
        "master_failover_state",
        "master_replid",
        "master_replid2",
        "second_repl_offset",
        "repl_backlog_active",
        "repl_backlog_size",
        "repl_backlog_histlen",
    ],
    "CPU": ["used_cpu_sys_children", "used_cpu_user_children", "used_cpu_sys_main_thread", "used_cpu_user_main_thread"],
}


@pytest.fixture
def both(spawn: Spawn, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A kvserver and a redis-server of this test's own (the script resets their statistics)."""
    real = redis_server_process(tmp_path / "redis").start()
    try:
        yield spawn("--appendonly", "no"), real
    finally:
        real.terminate()


def sections(port: int, *args: str) -> dict[str, list[tuple[str, str]]]:
    """INFO's text as section title -> its (field, value) lines, in order."""
    client = RawClient(port)
    raw = request(client, "INFO", *args)  # a bulk string: $<length>, the text
    client.close()
    text = raw.split(b"\r\n", 1)[1][:-2].decode()
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if line.startswith("# "):
            current = out[line[2:]] = []
        elif line:
            name, value = line.split(":", 1)
            current.append((name, value))
    return out


@pytest.mark.external
def test_sections_and_fields_in_redis_order(both: tuple[ServerProcess, ServerProcess]) -> None:
    kv, real = both
    ours, theirs = sections(kv.port, "everything"), sections(real.port, "everything")
    assert [s for s in theirs if s in ours] == list(ours)  # kvserver's sections in Redis's order
    assert ours["Modules"] == theirs["Modules"] == []
    for title, wanted in REDIS_FIELDS.items():
        names = [name for name, _ in ours[title]]
        assert set(wanted) <= set(names), title
        redis_order = [name for name, _ in theirs[title]]
        shared = [name for name in names if name in redis_order]
        assert shared == [name for name in redis_order if name in shared], title
    assert dict(ours["Replication"])["repl_backlog_size"] == "1048576"
    assert [s for s in sections(kv.port, "MODULES", "cpu")] == ["CPU", "Modules"]


@pytest.mark.external
def test_errorstats_and_pubsub_counters_match_redis(both: tuple[ServerProcess, ServerProcess]) -> None:
    script: list[tuple[str, ...]] = [
        ("CONFIG", "RESETSTAT"),
        ("SET", "foo", "bar"),
        ("LPUSH", "foo", "x"),  # WRONGTYPE
        ("NOSUCHCOMMAND",),  # ERR
        ("GET",),  # ERR, rejected
        ("SET", "a", "b", "c", "d"),  # ERR
        ("INCR", "foo"),  # ERR
        ("XADD", "s", "0-0", "f", "v"),  # ERR (an ID equal or smaller)
        ("INFO", "errorstats"),  # listed by error code, as Redis's radix tree
    ]
    kv, real = both
    assert run_script(kv.port, False, script)[-1] == run_script(real.port, False, script)[-1]
    for server in both:
        subscriber: redis.client.PubSub = call(redis.Redis(port=server.port).pubsub)
        subscriber.subscribe("c1", "c2")
        subscriber.psubscribe("p*")

        def counters(port: int = server.port) -> tuple[str, str, str]:
            stats = dict(sections(port, "stats")["Stats"])
            return stats["pubsub_channels"], stats["pubsub_patterns"], stats["pubsubshard_channels"]

        wait_for(lambda: counters() == ("2", "1", "0"))
        subscriber.close()
