"""redis-py, sync and asyncio, RESP2 and RESP3, against a real kvserver process."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio as aioredis

from tests.support import ServerProcess, call, command


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def client(request: pytest.FixtureRequest, kv_server: ServerProcess) -> redis.Redis:
    r = redis.Redis(port=kv_server.port, protocol=request.param, decode_responses=True)
    r.flushall()
    return r


def test_default_redis_py_connect_handshake_works(kv_server: ServerProcess) -> None:
    # redis-py 8 sends HELLO 3, CLIENT MAINT_NOTIFICATIONS and CLIENT SETINFO on connect
    r = redis.Redis(port=kv_server.port)
    assert r.ping() is True
    info = r.client_info()
    assert str(info["lib-name"]).startswith("redis-py")
    r.close()


def test_strings(client: redis.Redis) -> None:
    assert client.set("k", "v", ex=100) is True
    assert client.get("k") == "v"
    assert 99 <= client.ttl("k") <= 100
    assert client.set("k", "w", nx=True) is None
    assert client.set("k", "w", xx=True, get=True, ex=50) == "v"
    assert client.set("k", "z", keepttl=True) is True
    assert client.ttl("k") > 0
    assert client.getex("k", persist=True) == "z"
    assert client.ttl("k") == -1
    assert client.getdel("k") == "z"
    assert client.setnx("n", 1) is True
    assert client.incr("n") == 2
    assert client.incrby("n", 10) == 12
    assert client.decr("n") == 11
    assert client.decrby("n", 11) == 0
    assert client.incrbyfloat("f", 1.5) == 1.5
    assert client.mset({"a": "1", "b": "2"}) is True
    assert client.mget("a", "b", "c") == ["1", "2", None]
    assert client.msetnx({"a": "x", "new": "y"}) is False
    assert client.append("a", "23") == 3
    assert client.strlen("a") == 3
    assert client.getrange("a", 0, 1) == "12"
    assert client.setrange("a", 1, "xx") == 3
    assert client.setex("e", 10, "v") is True
    assert client.psetex("p", 10_000, "v") is True
    assert 0 < client.pttl("p") <= 10_000
    assert client.getset("a", "new") == "1xx"


def test_keys_and_expiry(client: redis.Redis) -> None:
    client.mset({"user:1": "a", "user:2": "b", "other": "c"})
    assert client.exists("user:1", "user:2", "nope") == 2
    assert sorted(client.keys("user:*")) == ["user:1", "user:2"]
    assert sorted(client.scan_iter(match="user:*", count=1)) == ["user:1", "user:2"]
    assert client.type("other") == "string"
    assert client.touch("other", "nope") == 1
    assert client.randomkey() in {"user:1", "user:2", "other"}
    assert client.rename("other", "renamed") is True
    assert client.renamenx("renamed", "user:1") is False
    assert client.copy("renamed", "copied") is True
    assert client.expire("copied", 100) is True
    assert client.expire("copied", 10, gt=True) is False
    assert client.pexpire("copied", 5000, lt=True) is True
    assert client.expireat("renamed", int(time.time()) + 100) is True
    assert client.pexpireat("user:2", int(time.time() * 1000) + 100_000) is True
    assert client.expiretime("renamed") > time.time()
    assert client.pexpiretime("user:2") > time.time() * 1000
    assert client.persist("renamed") is True
    assert client.ttl("renamed") == -1
    assert client.dbsize() == 4
    assert client.delete("user:1", "nope") == 1
    assert client.unlink("user:2") == 1
    assert client.flushdb() is True
    assert client.dbsize() == 0


def test_expired_key_is_never_returned(client: redis.Redis) -> None:
    client.set("k", "v", px=50)
    deadline = time.monotonic() + 5
    while client.get("k") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert client.ttl("k") == -2
    assert client.exists("k") == 0


def test_transactions_and_watch(client: redis.Redis, kv_server: ServerProcess) -> None:
    pipe = client.pipeline()  # transaction=True by default
    pipe.set("a", 1)
    pipe.incr("a")
    pipe.get("a")
    assert pipe.execute() == [True, 2, "2"]
    other = redis.Redis(port=kv_server.port)
    with client.pipeline() as pipe:
        call(pipe.watch, "a")
        other.set("a", 100)
        pipe.multi()
        pipe.set("a", 5)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert client.get("a") == "100"
    pipe = client.pipeline(transaction=False)
    pipe.set("x", 1)
    pipe.get("x")
    pipe.incr("nope-as-int")
    assert pipe.execute() == [True, "1", 1]
    other.close()


def test_transaction_with_queued_error_raises(client: redis.Redis) -> None:
    pipe = client.pipeline()
    pipe.set("a", 1)
    command(pipe, "NOSUCHCOMMAND")
    with pytest.raises(redis.ResponseError, match=r"unknown command 'NOSUCHCOMMAND'"):
        pipe.execute()


def test_connection_and_server_commands(client: redis.Redis) -> None:
    assert client.ping() is True
    assert client.echo("hi") == "hi"
    assert client.client_setname("app") is True
    assert client.client_getname() == "app"
    assert isinstance(client.client_id(), int)
    assert any(c["name"] == "app" for c in client.client_list())
    assert str(client.config_get("port")["port"]).isdigit()
    assert set(client.config_get("append*")) >= {"appendonly", "appendfsync", "appendfilename"}
    assert client.config_set("hz", 20) is True
    assert client.config_get("hz") == {"hz": "20"}
    assert client.config_set("hz", 10) is True
    info = client.info()
    assert info["redis_version"] == "7.0.15"
    assert "connected_clients" in info
    assert "aof_enabled" in info
    assert "used_memory" in info
    client.set("k", "v")
    assert client.info("keyspace")["db0"]["keys"] == 1
    seconds, micros = client.time()
    assert abs(seconds - time.time()) < 5
    assert 0 <= micros < 1_000_000
    assert client.dbsize() == 1
    assert client.lastsave() is not None
    assert client.select(0) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        client.select(16)
    assert client.command_count() > 50
    assert "get" in client.command_list()
    assert client.object("encoding", "k") == "embstr"


def test_binary_values_round_trip(kv_server: ServerProcess) -> None:
    r = redis.Redis(port=kv_server.port)
    payload = bytes(range(256)) * 100
    r.set(b"\x00bin\r\n", payload)
    assert r.get(b"\x00bin\r\n") == payload
    big = b"x" * (4 * 1024 * 1024)
    r.set("big", big)
    assert r.get("big") == big
    r.delete("big", b"\x00bin\r\n")
    r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_asyncio_client(kv_server: ServerProcess, protocol: int) -> None:
    async def main() -> None:
        r = aioredis.Redis(port=kv_server.port, protocol=protocol)
        await r.set("ak", "v", ex=60)
        assert await r.get("ak") == b"v"
        results = await asyncio.gather(*(r.incr("counter") for _ in range(50)))
        assert sorted(results) == list(range(1, 51))
        async with r.pipeline() as pipe:
            pipe.set("x", 1)
            pipe.incr("x")
            assert await pipe.execute() == [True, 2]
        assert await r.delete("ak", "counter", "x") == 3
        await r.aclose()

    asyncio.run(main())


def test_many_concurrent_connections(kv_server: ServerProcess) -> None:
    async def worker(i: int) -> None:
        r = aioredis.Redis(port=kv_server.port, protocol=2)
        for j in range(20):
            await r.set(f"w{i}:{j}", j)
            assert await r.get(f"w{i}:{j}") == str(j).encode()
        await r.aclose()

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(50)))

    asyncio.run(main())
    r = redis.Redis(port=kv_server.port)
    assert len(r.keys("w*")) == 1000
    r.flushall()
    r.close()
