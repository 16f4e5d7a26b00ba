"""Several databases against a real kvserver process, next to redis-server: SELECT's replies byte
for byte, redis-py with db=1 (sync and asyncio), ``redis-cli -n 3``, and a multi-database
keyspace that survives kill -9."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.asyncio as aioredis

from tests.support import ServerProcess, assert_same_replies, export_into_redis, pexpiretime, require_tool, wait_for

Spawn = Callable[..., ServerProcess]

SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("SET", "k", "zero"),
    ("SELECT", "3"),
    ("GET", "k"),
    ("SET", "k", "three"),
    ("DBSIZE",),
    ("SELECT", "16"),
    ("SELECT", "-1"),
    ("SELECT", "x"),
    ("SELECT", "1.5"),
    ("SELECT", "4294967296"),
    ("SELECT",),
    ("GET", "k"),  # still db 3 after the refusals
    ("MULTI",),
    ("SELECT", "0"),
    ("GET", "k"),
    ("SELECT", "3"),
    ("GET", "k"),
    ("EXEC",),
    ("FLUSHDB",),
    ("DBSIZE",),
    ("SELECT", "0"),
    ("GET", "k"),
    ("CONFIG", "GET", "databases"),
    ("CONFIG", "SET", "databases", "4"),
    # --- MOVE
    ("SET", "m", "v"),
    ("PEXPIRE", "m", "100000"),
    ("MOVE", "m", "0"),
    ("MOVE", "m", "16"),
    ("MOVE", "m", "-1"),
    ("MOVE", "m", "x"),
    ("MOVE", "m", "99999999999"),
    ("MOVE", "m"),
    ("MOVE", "m", "2"),
    ("MOVE", "m", "2"),
    ("EXISTS", "m"),
    ("SELECT", "2"),
    ("GET", "m"),
    ("SET", "m2", "here"),
    ("SELECT", "0"),
    ("SET", "m2", "there"),
    ("MOVE", "m2", "2"),
    ("GET", "m2"),
    # --- COPY ... DB
    ("COPY", "m2", "m2"),
    ("COPY", "m2", "m2", "DB", "0"),
    ("COPY", "m2", "m2", "DB", "2"),
    ("COPY", "m2", "m2", "DB", "2", "REPLACE"),
    ("COPY", "m2", "c", "DB", "16"),
    ("COPY", "m2", "c", "DB", "x"),
    ("COPY", "m2", "c", "DB"),
    ("COPY", "missing", "c", "DB", "3"),
    ("SELECT", "2"),
    ("GET", "m2"),
    ("KEYS", "m2*"),
    ("DBSIZE",),
    # --- SWAPDB
    ("SWAPDB", "0", "2"),
    ("SWAPDB", "0", "0"),
    ("SWAPDB", "0", "16"),
    ("SWAPDB", "-1", "0"),
    ("SWAPDB", "x", "0"),
    ("SWAPDB", "0", "x"),
    ("SWAPDB", "0"),
    ("DBSIZE",),
    ("GET", "m2"),
    ("SELECT", "0"),
    ("KEYS", "m2"),
    ("SELECT", "9"),
    ("RANDOMKEY",),
    ("SCAN", "0"),
    ("SET", "only", "1"),
    ("RANDOMKEY",),
    ("SCAN", "0"),
    ("KEYS", "*"),
    ("FLUSHDB", "ASYNC"),
    ("FLUSHDB", "SYNC"),
    ("FLUSHDB", "BOGUS"),
    ("SELECT", "0"),
    ("FLUSHALL", "ASYNC"),
    ("DBSIZE",),
    ("SELECT", "2"),
    ("DBSIZE",),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_select_replies_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPT)


@pytest.mark.external
@pytest.mark.parametrize("which", ["kvserver", "redis"])
def test_redis_py_with_db_1_sync_and_asyncio(kv_server: ServerProcess, real_redis: ServerProcess, which: str) -> None:
    port = kv_server.port if which == "kvserver" else real_redis.port
    zero, one = redis.Redis(port=port, db=0), redis.Redis(port=port, db=1)
    try:
        zero.flushall()
        zero.set("shared", "zero")
        one.set("shared", "one")
        assert zero.get("shared") == b"zero"
        assert one.get("shared") == b"one"
        assert one.dbsize() == 1
        assert int(one.client_info()["db"]) == 1
        info = zero.info("keyspace")
        assert info["db0"]["keys"] == 1
        assert info["db1"]["keys"] == 1
        one.flushdb()  # Django's cache.clear(): the other database keeps its keys
        assert zero.get("shared") == b"zero"

        async def run() -> None:
            client = aioredis.Redis(port=port, db=1, protocol=3)
            try:
                await client.set("async", "1")
                assert await client.get("async") == b"1"
                assert await client.incr("async") == 2
            finally:
                await client.aclose()

        asyncio.run(run())
        assert one.get("async") == b"2"
        assert zero.get("async") is None
        zero.flushall()
    finally:
        zero.close()
        one.close()


@pytest.mark.external
def test_redis_cli_n(kv_server: ServerProcess) -> None:
    cli = require_tool("redis-cli")
    r = redis.Redis(port=kv_server.port, db=3)
    try:
        r.flushall()

        def run(*args: str) -> str:
            done = subprocess.run(
                [cli, "-p", str(kv_server.port), "-n", "3", *args], capture_output=True, text=True, timeout=10
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        assert run("SET", "k", "v") == "OK"
        assert r.get("k") == b"v"
        assert run("DBSIZE") == "1"
        assert redis.Redis(port=kv_server.port).get("k") is None
    finally:
        r.flushall()
        r.close()


def test_a_multi_database_keyspace_survives_kill_9(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "dbs"
    server = spawn("--appendfsync", "always", data_dir=data_dir)
    clients = {db: redis.Redis(port=server.port, db=db) for db in (0, 1, 15)}
    for db, client in clients.items():
        client.set("k", f"db{db}")
        client.rpush("l", db)
    pipe = clients[1].pipeline(transaction=True)
    pipe.set("in-multi", "1")
    pipe.execute_command("SELECT", "15")  # type: ignore[no-untyped-call]
    pipe.set("in-multi", "15")
    pipe.execute()
    for client in clients.values():
        client.close()
    server.kill9()
    restarted = spawn(data_dir=data_dir)
    for db in (0, 1, 15):
        r = redis.Redis(port=restarted.port, db=db)
        assert r.get("k") == f"db{db}".encode()
        assert r.lrange("l", 0, -1) == [str(db).encode()]
        assert r.get("in-multi") == (None if db == 0 else str(db).encode())
        r.close()
    info = redis.Redis(port=restarted.port).info("keyspace")
    assert sorted(info) == ["db0", "db1", "db15"]


def contents(client: redis.Redis) -> dict[bytes, object]:
    """Every key of the client's database: its value and its deadline."""
    out: dict[bytes, object] = {}
    for key in cast(list[bytes], client.keys("*")):
        value = client.get(key) if client.type(key) == b"string" else client.hgetall(key)
        out[key] = (value, pexpiretime(client, key))
    return out


@pytest.mark.slow
def test_a_multi_database_keyspace_survives_a_rewrite_and_kill_9(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "rewrite"
    server = spawn("--appendfsync", "always", data_dir=data_dir)
    clients = {db: redis.Redis(port=server.port, db=db) for db in (0, 2, 9)}
    for round_ in range(50):
        for db, client in clients.items():
            client.set(f"k{round_ % 5}", f"db{db}-{round_}", ex=1000 + round_)
            client.hset("h", f"f{round_ % 7}", db)
    before = {db: contents(client) for db, client in clients.items()}
    assert clients[2].bgrewriteaof()
    wait_for(lambda: clients[0].info("persistence")["aof_rewrites"] == 1)
    clients[9].set("after", "rewrite")  # carried after the dump: lands in db 9, not in db 2 or 0
    for client in clients.values():
        client.close()
    server.kill9()
    restarted = spawn(data_dir=data_dir)
    for db, keys in before.items():
        r = redis.Redis(port=restarted.port, db=db)
        assert r.get("after") == (b"rewrite" if db == 9 else None)
        r.delete("after")
        assert contents(r) == keys
        r.close()


@pytest.mark.external
@pytest.mark.slow
def test_export_and_check_aof_handle_every_database(spawn: Spawn, tmp_path: Path, real_redis: ServerProcess) -> None:
    data_dir = tmp_path / "export"
    server = spawn(data_dir=data_dir)
    for db in (0, 4, 11):
        r = redis.Redis(port=server.port, db=db)
        r.set("k", f"db{db}")
        r.close()
    server.terminate()
    check = subprocess.run(
        [sys.executable, "-m", "kvserver", "check-aof", str(data_dir / "appendonly.aof")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    assert "keys=3," in check.stdout
    target = export_into_redis(data_dir, real_redis.port)
    for db in (0, 4, 11):
        r = redis.Redis(port=real_redis.port, db=db)
        assert r.get("k") == f"db{db}".encode()
        r.close()
    assert sorted(target.info("keyspace")) == ["db0", "db11", "db4"]
    target.flushall()
    target.close()
