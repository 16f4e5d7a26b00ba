"""Libraries that need scripts, against kvserver and redis-server side by side: redis-py's Lock
(sync and asyncio), and the order in which a script's writes reach a blocked client."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio

from tests.support import RawClient, ServerProcess, command, read_raw_reply, request, wait_for

SERVERS = ["kvserver", "redis"]


@pytest.fixture(params=SERVERS)
def port(request: pytest.FixtureRequest) -> int:
    server: ServerProcess = request.getfixturevalue("kv_server" if request.param == "kvserver" else "real_redis")
    return server.port


def test_redis_py_lock_acquire_extend_release_reacquire(port: int) -> None:
    client = redis.Redis(port=port)
    client.delete("lock:sync")
    lock = client.lock("lock:sync", timeout=10)
    other = client.lock("lock:sync", timeout=10, blocking=False)
    assert lock.acquire(blocking=False)
    assert not other.acquire()
    assert lock.owned()
    assert lock.extend(20)
    assert 25_000 < client.pttl("lock:sync") <= 30_000
    assert lock.reacquire()
    assert 5_000 < client.pttl("lock:sync") <= 10_000
    lock.release()
    assert client.exists("lock:sync") == 0
    assert lock.acquire(blocking=False)
    client.set("lock:sync", "someone else")  # the lock expired and another process took it
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.release()  # the release script finds another token: refused, the key kept
    assert client.get("lock:sync") == b"someone else"
    client.delete("lock:sync")
    assert other.acquire()
    other.release()
    client.close()


def test_redis_py_asyncio_lock(port: int) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(port=port)
        await client.delete("lock:async")
        lock = client.lock("lock:async", timeout=10)
        assert await lock.acquire(blocking=False)
        assert await lock.owned()
        assert await lock.extend(5, replace_ttl=True)
        assert 0 < await client.pttl("lock:async") <= 5_000
        assert await lock.reacquire()
        await lock.release()
        assert await client.exists("lock:async") == 0
        await client.aclose()

    asyncio.run(scenario())


def test_a_blocked_client_is_served_after_the_whole_script(port: int) -> None:
    client = redis.Redis(port=port)
    client.delete("queue")
    popped: list[object] = []
    waiter = redis.Redis(port=port)
    thread = threading.Thread(target=lambda: popped.append(waiter.blpop(["queue"], timeout=10)))
    thread.start()
    wait_for(lambda: client.info("clients")["blocked_clients"] == 1)
    script = "redis.call('rpush', KEYS[1], 'a', 'b') redis.call('lpop', KEYS[1]) return 1"
    assert command(client, "EVAL", script, "1", "queue") == 1
    thread.join(10)
    assert popped == [(b"queue", b"b")]  # 'a' was popped by the script before anyone was served
    waiter.close()
    client.close()


def test_limits_rate_limiters(port: int) -> None:
    """The limits library (Flask-Limiter, slowapi): its moving window and sliding window
    counter are Lua scripts."""
    from limits import parse, storage, strategies

    backend = storage.RedisStorage(f"redis://127.0.0.1:{port}")
    backend.reset()
    five = parse("5/minute")
    for strategy in (strategies.MovingWindowRateLimiter, strategies.SlidingWindowCounterRateLimiter):
        limiter = strategy(backend)
        assert [limiter.hit(five, "user", strategy.__name__) for _ in range(7)] == [True] * 5 + [False] * 2
        assert limiter.get_window_stats(five, "user", strategy.__name__).remaining == 0
        assert limiter.test(five, "other", strategy.__name__)
    fixed = strategies.FixedWindowRateLimiter(backend)
    assert [fixed.hit(parse("2/second"), "f") for _ in range(3)] == [True, True, False]


def test_monitor_shows_eval_before_the_commands_it_runs(port: int) -> None:
    monitor = RawClient(port)
    assert request(monitor, "MONITOR") == b"+OK\r\n"
    client = RawClient(port)
    assert request(client, "EVAL", "redis.call('set', KEYS[1], ARGV[1])", "1", "foo", "bar") == b"$-1\r\n"
    first, second = read_raw_reply(monitor, 1), read_raw_reply(monitor, 1)
    assert b'"eval"' in first.lower()
    assert second.endswith(b' [0 lua] "set" "foo" "bar"\r\n')
    monitor.close()
    client.close()
