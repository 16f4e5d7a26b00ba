"""HyperLogLog against a real redis-server, RESP2 and RESP3: the same replies and the same bytes.

After the same PFADDs / PFMERGEs a GET returns the same string on both servers (the header, the
sparse opcodes or the dense registers, the cached cardinality), from 1 to 100 000 elements,
sparse and dense, merges of mixed encodings, several ``hll-sparse-max-bytes``; corrupted values
(random bytes flipped in a valid one) get the same replies, never a crash.
"""

from __future__ import annotations

import random
from typing import cast

import pytest
import redis

from tests.support import ServerProcess, assert_same_replies, command

ERRORS: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("PFADD",),
    ("PFCOUNT",),
    ("PFMERGE",),
    ("PFADD", "h"),
    ("GET", "h"),
    ("PFCOUNT", "h"),
    ("GET", "h"),
    ("PFADD", "h", ""),
    ("PFADD", "h", ""),
    ("PFCOUNT", "h", "missing"),
    ("SET", "str", "hello"),
    ("PFADD", "str", "a"),
    ("PFCOUNT", "str"),
    ("PFCOUNT", "h", "str"),
    ("PFMERGE", "str", "h"),
    ("PFMERGE", "h", "str"),
    ("RPUSH", "list", "a"),
    ("PFADD", "list", "a"),
    ("PFCOUNT", "list"),
    ("PFMERGE", "list"),
    ("SET", "magic", "HYLX\x01" + "\x00" * 11 + "\x7f\xff"),
    ("PFCOUNT", "magic"),
    ("SET", "encoding", "HYLL\x02" + "\x00" * 11 + "\x7f\xff"),
    ("PFADD", "encoding", "a"),
    ("SET", "short-dense", "HYLL\x00" + "\x00" * 20),
    ("PFCOUNT", "short-dense"),
    ("SET", "tail", "HYLL\x01" + "\x00" * 10 + "\x01\x7f\xff\x80"),  # a register past the end
    ("PFCOUNT", "tail"),
    ("PFCOUNT", "tail", "h"),
    ("PFADD", "tail", "a", "b", "c"),
    ("GET", "tail"),
    ("PFMERGE", "dest", "tail"),
    ("SET", "truncated", "HYLL\x01" + "\x00" * 10 + "\x01\x7f"),
    ("PFADD", "truncated", "a", "b"),
    ("GET", "truncated"),
    ("PFDEBUG", "ENCODING", "missing"),
    ("PFDEBUG", "ENCODING", "h"),
    ("PFDEBUG", "DECODE", "h"),
    ("PFDEBUG", "BOGUS", "h"),
    ("PFDEBUG", "TODENSE", "h"),
    ("PFDEBUG", "TODENSE", "h"),
    ("PFDEBUG", "DECODE", "h"),
    ("PFDEBUG", "ENCODING", "h"),
    ("GET", "h"),
    ("PFDEBUG", "GETREG", "str"),
]


def growth_script(sizes: list[int]) -> list[tuple[str, ...]]:
    """One HyperLogLog grown through ``sizes`` elements (sparse, promoted, dense), with merges of
    small sparse ones into it and into new keys at each size, and every value read back."""
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    added = 0
    for size in sizes:
        while added < size:
            batch = min(size - added, 1000)
            script.append(("PFADD", "big", *[str(added + i) for i in range(batch)]))
            added += batch
        small = f"small{size}"
        script += [
            ("GET", "big"),
            ("PFCOUNT", "big"),
            ("GET", "big"),
            ("PFDEBUG", "ENCODING", "big"),
            ("PFADD", small, *[f"y{i}" for i in range(min(size, 50))]),
            ("PFMERGE", f"union{size}", small, "big"),
            ("GET", f"union{size}"),
            ("PFMERGE", small, "small1"),
            ("GET", small),
            ("PFCOUNT", "small1", "big", small),
        ]
    return script


def random_script(seed: int, steps: int) -> list[tuple[str, ...]]:
    """PFADD, PFMERGE (into existing sparse or dense keys) and PFCOUNT on four keys, changing
    ``hll-sparse-max-bytes`` on the way; every value read back after each step."""
    rng = random.Random(seed)
    keys = ["h1", "h2", "h3", "h4"]
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    for _ in range(steps):
        choice = rng.randrange(10)
        if choice < 5:
            size = rng.choice([1, 2, 5, 20, 100, 400])
            script.append(("PFADD", rng.choice(keys), *[str(rng.randrange(50_000)) for _ in range(size)]))
        elif choice < 8:
            script.append(("PFMERGE", rng.choice(keys), *rng.sample([*keys, "none"], rng.randrange(4))))
        elif choice == 8:
            script.append(("CONFIG", "SET", "hll-sparse-max-bytes", rng.choice(["100", "500", "3000", "10000", "0"])))
        else:
            script.append(("PFCOUNT", *rng.sample(keys, rng.randrange(1, 4))))
        script += [("GET", key) for key in keys]
    script.append(("CONFIG", "SET", "hll-sparse-max-bytes", "3000"))
    return script


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_hyperloglog_errors_and_debug_match_redis(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool
) -> None:
    assert_same_replies(kv_server, real_redis, resp3, ERRORS)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_small_hyperloglogs_are_byte_identical(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool
) -> None:
    assert_same_replies(kv_server, real_redis, resp3, growth_script([1, 2, 3, 10, 100, 500, 1000]))


def test_hyperloglogs_up_to_100k_elements_are_byte_identical(
    kv_server: ServerProcess, real_redis: ServerProcess
) -> None:
    assert_same_replies(kv_server, real_redis, False, growth_script([2000, 3000, 5000, 10_000, 100_000]))


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_random_merges_and_promotions_are_byte_identical(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool
) -> None:
    assert_same_replies(kv_server, real_redis, resp3, random_script(14 + resp3, 250))


def _replies(client: redis.Redis, value: bytes) -> list[object]:
    client.set("h", value)
    out: list[object] = []
    for step in [
        ("PFCOUNT", "h"),
        ("GET", "h"),
        ("PFADD", "h", "a", "b", "c", "d"),
        ("GET", "h"),
        ("PFCOUNT", "h", "h"),
        ("PFMERGE", "h2", "h"),
        ("GET", "h2"),
        ("PFMERGE", "h", "h2"),
        ("GET", "h"),
        ("PFCOUNT", "h"),
        ("DEL", "h2"),
    ]:
        try:
            out.append(command(client, *step))
        except redis.ResponseError as exc:
            out.append(str(exc))
    return out


@pytest.mark.slow
def test_corrupted_hyperloglogs_get_the_same_replies(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    ours = redis.Redis(port=kv_server.port)
    theirs = redis.Redis(port=real_redis.port)
    rng = random.Random(14)
    for client in (ours, theirs):
        client.flushall()
    for trial in range(150):
        elements = [str(rng.randrange(10**6)) for _ in range(rng.choice([1, 5, 20, 100, 500, 3000]))]
        theirs.delete("h")
        theirs.pfadd("h", *elements)
        value = bytearray(cast(bytes, theirs.get("h")))
        for _ in range(rng.randrange(1, 6)):
            value[rng.randrange(16, len(value))] = rng.randrange(256)
        if rng.random() < 0.2:
            value = value[: rng.randrange(16, len(value))]
        if rng.random() < 0.1:
            value += bytes(rng.randrange(256) for _ in range(3))
        assert _replies(ours, bytes(value)) == _replies(theirs, bytes(value)), f"trial {trial}: {bytes(value)!r}"
    assert ours.ping()
    ours.close()
    theirs.close()


def test_large_pfadds_to_new_and_corrupted_keys_are_byte_identical(
    kv_server: ServerProcess, real_redis: ServerProcess
) -> None:
    # Redis's fuzz test: PFADD of up to 3000 elements like TCL's rand() to a new key, at several
    # hll-sparse-max-bytes (promoted at different elements); then more elements after a byte of
    # the value changed (the batched path on a value Redis's updates never make)
    ours = redis.Redis(port=kv_server.port)
    theirs = redis.Redis(port=real_redis.port)
    rng = random.Random(15)
    for trial in range(40):
        max_bytes = rng.choice([100, 1000, 3000, 6000, 16000])
        elements = [repr(rng.random()) for _ in range(rng.randrange(5, 3000))]
        more = [repr(rng.random()) for _ in range(rng.choice([5, 50, 500]))]
        where, bit = rng.random(), 1 << rng.randrange(8)
        replies = []
        for client in (ours, theirs):
            client.config_set("hll-sparse-max-bytes", max_bytes)
            client.delete("h")
            client.pfadd("h", *elements)
            value = bytearray(cast(bytes, client.get("h")))
            value[16 + int(where * (len(value) - 16))] ^= bit
            client.set("h2", bytes(value))
            try:
                added: object = client.pfadd("h2", *more)
            except redis.ResponseError as exc:
                added = str(exc)
            replies.append([bytes(value), added, client.get("h2"), client.pfadd("h", *more), client.get("h")])
        assert replies[0] == replies[1], f"trial {trial}"
    for client in (ours, theirs):
        client.config_set("hll-sparse-max-bytes", 3000)
        client.close()
