"""Several databases against a real kvserver process, next to redis-server: SELECT's replies byte
for byte, redis-py with db=1 (sync and asyncio), ``redis-cli -n 3``, and a multi-database
keyspace that survives kill -9."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from tests.support import ServerProcess, assert_same_replies, require_tool

Spawn = Callable[..., ServerProcess]

SCRIPT: list[tuple[str, ...]] = [
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
    ("FLUSHALL",),
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
