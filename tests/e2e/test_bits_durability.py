"""Bitmaps, BITFIELD and HyperLogLog values survive kill -9 and a rewrite, byte for byte.

The values are strings edited in place (SETBIT, BITFIELD, PFADD on a bytearray) and PFCOUNT
stores its cached cardinality in the value: replaying the log must give the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

from tests.support import ServerProcess, command, wait_for

Spawn = Callable[..., ServerProcess]


def workload(r: redis.Redis, seed: int) -> None:
    rng = random.Random(seed)
    r.pfadd("dense", *[f"d{i}" for i in range(3000)])
    for i in range(100):
        r.setbit(f"bits{i % 5}", rng.randrange(5000), rng.randrange(2))
        command(
            r, "BITFIELD", f"field{i % 3}", "OVERFLOW", "SAT", "INCRBY", "i12", f"#{i % 40}", rng.randrange(-900, 900)
        )
        r.pfadd(f"hll{i % 4}", *[f"e{rng.randrange(20_000)}" for _ in range(rng.choice([1, 10, 50]))])
        if i % 7 == 0:
            r.pfcount(f"hll{i % 4}")  # stores the cardinality in the value
        if i % 25 == 0:
            r.bitop("XOR", "xor", "bits0", "bits1", "bits2")
            r.pfmerge("merged", "hll0", "hll1")
    r.pfadd("sparse", "a", "b", "c")
    r.pfcount("sparse")


def values(r: redis.Redis) -> dict[bytes, bytes]:
    return {key: cast(bytes, r.get(key)) for key in cast(list[bytes], r.keys("*"))}


def restarted_values(spawn: Spawn, data_dir: Path) -> dict[bytes, bytes]:
    r = redis.Redis(port=spawn(data_dir=data_dir).port)
    try:
        return values(r)
    finally:
        r.close()


@pytest.mark.slow
def test_bit_and_hll_values_survive_kill_9(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "bits"
    server = spawn("--appendfsync", "everysec", data_dir=data_dir)  # written before the reply
    r = redis.Redis(port=server.port)
    workload(r, seed=1)
    before = values(r)
    assert command(r, "PFDEBUG", "ENCODING", "dense") == b"dense"
    assert command(r, "PFDEBUG", "ENCODING", "sparse") == b"sparse"
    r.close()
    server.kill9()
    assert restarted_values(spawn, data_dir) == before


@pytest.mark.slow
def test_bit_and_hll_values_survive_a_rewrite(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "rewrite"
    server = spawn("--appendfsync", "everysec", data_dir=data_dir)  # written before the reply
    r = redis.Redis(port=server.port)
    workload(r, seed=2)
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    workload(r, seed=3)  # after the rewrite, on top of the rewritten values
    before = values(r)
    r.close()
    server.kill9()
    assert restarted_values(spawn, data_dir) == before
