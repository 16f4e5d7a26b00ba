"""maxmemory on a real kvserver process: OOM with noeviction, eviction with allkeys-random, INFO."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.support import TIMING_SENSITIVE, ServerProcess, redis_server_process, run_script

pytestmark = TIMING_SENSITIVE

Spawn = Callable[..., ServerProcess]
VALUE = b"x" * (1 << 20)


# what a write, a read and a transaction get once used memory is past maxmemory
OOM_SCRIPT: list[tuple[str, ...]] = [
    ("CONFIG", "SET", "maxmemory", "1"),
    ("SET", "k", "v"),
    ("GET", "k"),
    ("DEL", "k"),
    ("MULTI",),
    ("GET", "k"),
    ("DISCARD",),
    ("CONFIG", "SET", "maxmemory", "0"),
    ("SET", "k", "v"),
]


@pytest.mark.external
def test_oom_reply_is_redis_s(spawn: Spawn, tmp_path: Path) -> None:
    kv = spawn("--appendonly", "no")
    real = redis_server_process(tmp_path / "redis").start()
    try:
        ours = run_script(kv.port, False, OOM_SCRIPT)
        assert ours[1] == b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        assert ours == run_script(real.port, False, OOM_SCRIPT)
    finally:
        real.terminate()


def fill_until_refused(r: redis.Redis) -> int:
    """SET 1 MB values until the server says OOM (redis-py's OutOfMemoryError); the count written."""
    for i in range(200):  # 200 MB would be far past any limit here
        try:
            r.set(f"k{i}", VALUE)
        except redis.exceptions.OutOfMemoryError:
            return i
    raise AssertionError("never refused")


def test_memory_limit_refuses_then_evicts(spawn: Spawn) -> None:
    kv = spawn("--appendonly", "no", "--maxmemory-policy", "noeviction")
    r = redis.Redis(port=kv.port)
    info = r.info("memory")
    assert info["maxmemory"] == 0
    assert info["maxmemory_policy"] == "noeviction"
    assert info["used_memory"] > 1 << 20  # the process's RSS: an interpreter is several MB
    limit = info["used_memory"] + (20 << 20)
    assert r.config_set("maxmemory", limit) is True
    assert r.config_get("maxmemory") == {"maxmemory": str(limit)}
    written = fill_until_refused(r)
    assert 5 <= written < 100, r.info("memory")
    assert r.get("k0") == VALUE  # reads are served
    assert r.delete("k0") == 1  # and DEL is not denyoom
    info = r.info("memory")
    assert info["maxmemory"] == limit
    assert info["maxmemory_human"].endswith("M")
    # still about the limit: used memory is the RSS, and since the refusal the refused SET's 1 MB
    # request (read, then parsed: up to two copies) and k0's 1 MB were freed
    assert info["used_memory"] > limit - (4 << 20)

    assert r.config_set("maxmemory-policy", "allkeys-random") is True
    for i in range(100, 160):  # 60 MB more: keys make room for each other
        assert r.set(f"k{i}", VALUE) is True
    state = f"written {written}, keys {r.dbsize()}, stats {r.info('stats')['evicted_keys']}, memory {r.info('memory')}"
    assert r.info("stats")["evicted_keys"] > 0, state
    # used memory is the sampled RSS, which lags frees: eviction may take a few keys too many, but
    # it must not cascade through the keyspace
    assert written // 4 <= r.dbsize() < written + 60, state
    assert r.exists("k159") == 1, state  # a key is evicted before a write, never the one just written
    # the RSS lags what was freed (the allocator keeps some until it is trimmed): a loose bound,
    # still far below the 60 MB written past the limit
    assert r.info("memory")["used_memory"] < limit + (16 << 20), state
    r.close()
