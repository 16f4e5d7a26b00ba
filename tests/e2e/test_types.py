"""Hashes, sets, sorted sets and lists through redis-py against a real kvserver process.

Exact reply bytes are held to Redis's in test_differential_types.py; here every command is used the
way applications use it, including the random ones (checked by shape) and the blocking ones.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import cast

import pytest
import redis
import redis.asyncio

from kvserver.protocol import encode_command
from tests.support import RawClient, ServerProcess, array, wait_for


def test_hash_commands(kv: redis.Redis) -> None:
    assert kv.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert kv.hset("h", "a", "10") == 0
    assert kv.hsetnx("h", "a", "x") == 0
    assert kv.hsetnx("h", "c", "3") == 1
    assert kv.hget("h", "a") == b"10"
    assert kv.hmget("h", ["a", "zz", "c"]) == [b"10", None, b"3"]
    assert kv.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"3"}
    assert kv.hkeys("h") == [b"a", b"b", b"c"]
    assert kv.hvals("h") == [b"10", b"2", b"3"]
    assert kv.hlen("h") == 3
    assert kv.hexists("h", "b") == 1
    assert kv.hstrlen("h", "a") == 2
    assert kv.hincrby("h", "a", 5) == 15
    assert kv.hincrbyfloat("h", "f", 2.5) == 2.5
    assert kv.hincrbyfloat("h", "f", 0.25) == 2.75
    assert kv.hrandfield("h") in {b"a", b"b", b"c", b"f"}
    assert sorted(array(kv.hrandfield("h", 10))) == [b"a", b"b", b"c", b"f"]
    assert len(array(kv.hrandfield("h", -10))) == 10
    assert len(array(kv.hrandfield("h", 2, withvalues=True))) == 4
    assert kv.hdel("h", "a", "b", "c", "nope") == 3
    assert kv.hdel("h", "f") == 1
    assert kv.exists("h") == 0  # the empty hash is gone


def test_hscan_walks_a_large_hash(kv: redis.Redis) -> None:
    kv.hset("big", mapping={f"f{i}": i for i in range(1000)})
    seen = dict(kv.hscan_iter("big", count=100))
    assert len(seen) == 1000
    assert seen[b"f7"] == b"7"
    assert sorted(dict(kv.hscan_iter("big", match="f99*"))) == [b"f99", *(b"f99%d" % i for i in range(10))]


def test_set_commands(kv: redis.Redis) -> None:
    assert kv.sadd("s", "a", "b", "c") == 3
    assert kv.sadd("s", "a", "d") == 1
    assert kv.smembers("s") == {b"a", b"b", b"c", b"d"}
    assert kv.sismember("s", "a") == 1
    assert kv.smismember("s", ["a", "z"]) == [1, 0]
    assert kv.scard("s") == 4
    assert kv.srem("s", "d", "z") == 1
    assert kv.srandmember("s") in {b"a", b"b", b"c"}
    assert len(array(kv.srandmember("s", -7))) == 7
    assert set(array(kv.srandmember("s", 7))) == {b"a", b"b", b"c"}
    kv.sadd("t", "b", "c", "e")
    assert kv.sinter(["s", "t"]) == {b"b", b"c"}
    assert kv.sunion(["s", "t"]) == {b"a", b"b", b"c", b"e"}
    assert kv.sdiff(["s", "t"]) == {b"a"}
    assert kv.sintercard(2, ["s", "t"]) == 2
    assert kv.sintercard(2, ["s", "t"], limit=1) == 1
    assert kv.sinterstore("i", ["s", "t"]) == 2
    assert kv.sunionstore("u", ["s", "t"]) == 4
    assert kv.sdiffstore("d", ["s", "t"]) == 1
    assert kv.smembers("d") == {b"a"}
    assert kv.smove("s", "t", "a") == 1
    assert kv.smove("s", "t", "a") == 0
    popped = array(kv.spop("t", 2))
    assert len(popped) == 2
    assert kv.scard("t") == 2
    assert set(popped).isdisjoint(kv.smembers("t"))
    assert kv.spop("t") is not None
    assert kv.spop("t") is not None
    assert kv.exists("t") == 0
    kv.sadd("many", *range(2000))
    assert sorted(int(m) for m in kv.sscan_iter("many", count=300)) == list(range(2000))


def test_sorted_set_commands(kv: redis.Redis) -> None:
    assert kv.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert kv.zadd("z", {"a": 5}, nx=True) == 0
    assert kv.zadd("z", {"a": 0.5, "d": 4}, xx=True, ch=True) == 1
    assert kv.zadd("z", {"b": 1}, gt=True, ch=True) == 0
    assert kv.zadd("z", {"b": 1}, lt=True, ch=True) == 1
    assert kv.zadd("z", {"c": 10}, incr=True) == 13.0
    assert kv.zincrby("z", 1.5, "a") == 2.0
    assert kv.zscore("z", "a") == 2.0
    assert kv.zmscore("z", ["a", "zz"]) == [2.0, None]
    assert kv.zcard("z") == 3
    assert kv.zcount("z", "(1", "+inf") == 2
    assert kv.zrank("z", "b") == 0
    assert kv.zrevrank("z", "b") == 2
    assert kv.zrange("z", 0, -1, withscores=True) == [(b"b", 1.0), (b"a", 2.0), (b"c", 13.0)]
    assert kv.zrange("z", 0, 0, desc=True) == [b"c"]
    assert kv.zrange("z", "(1", 13, byscore=True, offset=1, num=1) == [b"c"]
    assert kv.zrangebyscore("z", 2, "+inf") == [b"a", b"c"]
    assert kv.zrevrangebyscore("z", "+inf", 2, withscores=True) == [(b"c", 13.0), (b"a", 2.0)]
    assert kv.zrevrange("z", 0, 1) == [b"c", b"a"]
    assert kv.zrandmember("z") in {b"a", b"b", b"c"}
    assert len(array(kv.zrandmember("z", -5))) == 5
    assert kv.zrem("z", "b", "nope") == 1
    assert kv.zpopmin("z") == [(b"a", 2.0)]
    assert kv.zpopmax("z") == [(b"c", 13.0)]
    assert kv.exists("z") == 0
    kv.zadd("lex", {m: 0 for m in "abcdef"})
    assert kv.zrangebylex("lex", "[b", "(e") == [b"b", b"c", b"d"]
    assert kv.zrevrangebylex("lex", "+", "[e") == [b"f", b"e"]
    assert kv.zlexcount("lex", "-", "+") == 6
    assert kv.zremrangebylex("lex", "-", "[b") == 2
    assert kv.zremrangebyrank("lex", 0, 0) == 1
    assert kv.zremrangebyscore("lex", 0, 0) == 3
    assert kv.exists("lex") == 0
    kv.zadd("many", {f"m{i}": i for i in range(1000)})
    assert len(dict(kv.zscan_iter("many", count=100))) == 1000
    assert kv.zrangestore("copy", "many", 10, 19, byscore=True) == 10


def test_list_commands(kv: redis.Redis) -> None:
    assert kv.rpush("l", "a", "b", "c") == 3
    assert kv.lpush("l", "z") == 4
    assert kv.lpushx("nope", "x") == 0
    assert kv.rpushx("l", "d") == 5
    assert kv.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c", b"d"]
    assert kv.llen("l") == 5
    assert kv.lindex("l", -1) == b"d"
    assert kv.lset("l", 0, "y") == 1
    assert kv.linsert("l", "after", "a", "a2") == 6
    assert kv.lpos("l", "b") == 3
    kv.rpush("l", "a")
    assert kv.lrem("l", -1, "a") == 1
    assert kv.ltrim("l", 1, -1) == 1
    assert kv.lrange("l", 0, -1) == [b"a", b"a2", b"b", b"c", b"d"]
    assert kv.lpop("l") == b"a"
    assert kv.rpop("l", 2) == [b"d", b"c"]
    assert kv.lmove("l", "m", "LEFT", "RIGHT") == b"a2"
    assert kv.rpoplpush("l", "m") == b"b"
    assert kv.exists("l") == 0
    assert kv.lrange("m", 0, -1) == [b"b", b"a2"]


def test_wrongtype_and_generic_commands_on_every_type(kv: redis.Redis) -> None:
    kv.hset("h", "f", "v")
    kv.sadd("s", "m")
    kv.zadd("z", {"m": 1})
    kv.rpush("l", "e")
    kv.set("str", "v")
    for key, kind in [("h", "hash"), ("s", "set"), ("z", "zset"), ("l", "list"), ("str", "string")]:
        assert kv.type(key) == kind.encode()
        assert list(kv.scan_iter(_type=kind)) == [key.encode()]
        assert kv.copy(key, key + "2") == 1
        assert kv.expire(key + "2", 100) == 1
        assert kv.rename(key + "2", key + "3") == 1
        assert 0 < kv.ttl(key + "3") <= 100
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        kv.hget("s", "f")
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        kv.lpush("h", "x")
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        kv.zadd("l", {"x": 1})
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        kv.sadd("z", "x")
    kv.sadd("s3", "extra")  # the copy is independent of the original
    assert kv.smembers("s") == {b"m"}
    assert kv.delete("h", "s", "z", "l") == 4


def test_expired_containers_are_gone(kv: redis.Redis) -> None:
    kv.rpush("l", "a")
    kv.pexpire("l", 1)
    wait_for(lambda: kv.exists("l") == 0)
    assert kv.rpush("l", "b") == 1  # a fresh list, not the expired one


# --- blocking commands ------------------------------------------------------------------------


def blocked_clients(kv: redis.Redis, count: int) -> None:
    wait_for(lambda: kv.info("clients")["blocked_clients"] == count)


def test_blpop_wakes_when_another_client_pushes(kv_server: ServerProcess, kv: redis.Redis) -> None:
    result: list[object] = []
    waiter = redis.Redis(port=kv_server.port)
    thread = threading.Thread(target=lambda: result.append(waiter.blpop(["q1", "q2"], timeout=0)))
    thread.start()
    blocked_clients(kv, 1)
    assert kv.rpush("q2", "job") == 1
    thread.join(10)
    assert result == [(b"q2", b"job")]
    assert kv.exists("q2") == 0
    waiter.close()


def test_blocked_clients_are_served_in_arrival_order(kv_server: ServerProcess, kv: redis.Redis) -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        clients = [redis.asyncio.Redis(port=kv_server.port) for _ in range(5)]
        served: list[tuple[int, bytes]] = []

        async def wait(i: int) -> None:
            item = await clients[i].brpop(["jobs"], timeout=10)
            assert item is not None
            served.append((i, cast(bytes, item[1])))

        tasks = []
        for i in range(5):  # block one at a time, so the arrival order is known
            tasks.append(asyncio.create_task(wait(i)))
            await asyncio.to_thread(blocked_clients, kv, i + 1)
        await asyncio.to_thread(kv.lpush, "jobs", *[f"j{i}" for i in range(5)])
        await asyncio.gather(*tasks)
        for client in clients:
            await client.aclose()
        return served

    served = asyncio.run(scenario())
    assert [i for i, _ in served] == [0, 1, 2, 3, 4]
    assert [job for _, job in served] == [b"j0", b"j1", b"j2", b"j3", b"j4"]  # BRPOP takes the tail first


def test_bzpopmin_wakes_on_zadd(kv_server: ServerProcess, kv: redis.Redis) -> None:
    result: list[object] = []
    waiter = redis.Redis(port=kv_server.port)
    thread = threading.Thread(target=lambda: result.append(waiter.bzpopmin(["jobs"], timeout=0)))
    thread.start()
    blocked_clients(kv, 1)
    kv.zadd("jobs", {"urgent": 1, "later": 5})
    thread.join(10)
    assert result == [(b"jobs", b"urgent", 1.0)]
    assert kv.zrange("jobs", 0, -1) == [b"later"]
    waiter.close()


def test_blocking_pop_times_out_with_nil(kv: redis.Redis) -> None:
    start = time.monotonic()
    assert kv.blpop(["empty"], timeout=0.2) is None
    assert time.monotonic() - start >= 0.2
    assert kv.blmove("empty", "dst", 0.1, "LEFT", "RIGHT") is None  # type: ignore[arg-type]  # the stub says int


def test_blmove_chain_feeds_the_next_waiter(kv_server: ServerProcess, kv: redis.Redis) -> None:
    moved: list[object] = []
    popped: list[object] = []
    mover = redis.Redis(port=kv_server.port)
    popper = redis.Redis(port=kv_server.port)
    t1 = threading.Thread(target=lambda: moved.append(mover.blmove("a", "b", 0, "RIGHT", "LEFT")))
    t1.start()
    blocked_clients(kv, 1)
    t2 = threading.Thread(target=lambda: popped.append(popper.blpop(["b"], timeout=0)))
    t2.start()
    blocked_clients(kv, 2)
    kv.rpush("a", "x")
    t1.join(10)
    t2.join(10)
    assert moved == [b"x"]
    assert popped == [(b"b", b"x")]
    mover.close()
    popper.close()


def test_commands_pipelined_behind_a_block_run_after_it(kv_server: ServerProcess, kv: redis.Redis) -> None:
    waiter = redis.Redis(port=kv_server.port)
    result: list[object] = []

    def run() -> None:
        pipe = waiter.pipeline(transaction=False)
        pipe.blpop(["q"], timeout=0)
        pipe.get("after")
        result.extend(pipe.execute())

    thread = threading.Thread(target=run)
    thread.start()
    blocked_clients(kv, 1)
    kv.set("after", "set-while-blocked")
    kv.rpush("q", "v")
    thread.join(10)
    assert result == [(b"q", b"v"), b"set-while-blocked"]
    waiter.close()


def test_client_unblock_and_disconnect(kv_server: ServerProcess, kv: redis.Redis) -> None:
    waiter = redis.Redis(port=kv_server.port)
    waiter_id = waiter.client_id()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(waiter.blpop(["q"], timeout=0)))
    thread.start()
    blocked_clients(kv, 1)
    assert kv.client_unblock(waiter_id) == 1
    thread.join(10)
    assert result == [None]
    assert kv.client_unblock(waiter_id) == 0

    errors: list[Exception] = []

    def wait_for_error() -> None:
        try:
            waiter.blpop(["q"], timeout=0)
        except redis.ResponseError as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait_for_error)
    thread.start()
    blocked_clients(kv, 1)
    assert kv.client_unblock(waiter_id, error=True) == 1
    thread.join(10)
    assert "UNBLOCKED" in str(errors[0])
    waiter.close()

    gone = RawClient(kv_server.port)  # a client that disconnects while blocked is forgotten
    gone.send(encode_command("BLPOP", "q", "0"))
    blocked_clients(kv, 1)
    gone.close()
    blocked_clients(kv, 0)
    kv.rpush("q", "kept")  # nobody is served: the element stays
    assert kv.lrange("q", 0, -1) == [b"kept"]


def test_blocking_commands_inside_multi_do_not_block(kv: redis.Redis) -> None:
    pipe = kv.pipeline(transaction=True)
    pipe.blpop(["empty"], timeout=0)
    pipe.blmove("empty", "dst", 0, "LEFT", "LEFT")
    assert pipe.execute() == [None, None]


def test_a_killed_blocked_client_is_not_served(kv_server: ServerProcess, kv: redis.Redis) -> None:
    victim = RawClient(kv_server.port)
    victim.send(encode_command("CLIENT", "ID"))
    client_id = int(victim.sock.recv(100)[1:-2])
    victim.send(encode_command("BLPOP", "q", "0"))
    blocked_clients(kv, 1)
    pipe = kv.pipeline(transaction=False)  # one batch: the push runs before the socket is closed
    pipe.client_kill_filter(_id=str(client_id))
    pipe.rpush("q", "kept")
    assert pipe.execute() == [1, 1]
    assert kv.lrange("q", 0, -1) == [b"kept"]  # the element did not go to the dying connection
    assert victim.recv_until_closed() == b""
    victim.close()
