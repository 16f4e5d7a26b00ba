"""Libraries and job queues whose every operation is a Lua script, against kvserver and against
redis-server: the same script, the same arguments, the same expected outcome on both.

- A BullMQ-style queue: jobs are added, taken and finished by scripts that unpack their arguments
  with cmsgpack, keep the job's options as JSON (cjson) and decide by what they decode.
- The ``limits`` package (Flask-Limiter's and slowapi's storage): its fixed-window, moving-window
  and sliding-window strategies on RedisStorage, which run as EVALSHA of registered scripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import msgpack
import pytest
import redis
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from tests.support import ServerProcess


@pytest.fixture(params=["kvserver", "redis"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A client of the shared kvserver or redis-server, flushed."""
    process: ServerProcess = request.getfixturevalue("kv_server" if request.param == "kvserver" else "real_redis")
    with redis.Redis(port=process.port) as c:
        c.flushall()
        yield c


# --- a BullMQ-style queue -----------------------------------------------------------------------

# KEYS: wait list, delayed zset, id counter. ARGV: msgpack [prefix, custom id, name, timestamp],
# the job's data as JSON, msgpack options.
ADD_JOB = """
local args = cmsgpack.unpack(ARGV[1])
local opts = cmsgpack.unpack(ARGV[3])
local prefix, customId, name, timestamp = args[1], args[2], args[3], args[4]
local jobId = customId
if jobId == "" then jobId = tostring(redis.call("INCR", KEYS[3])) end
local jobKey = prefix .. jobId
if redis.call("EXISTS", jobKey) == 1 then return {jobId, 0} end
local delay = opts.delay or 0
redis.call("HSET", jobKey, "name", name, "data", ARGV[2], "opts", cjson.encode(opts),
  "timestamp", timestamp, "delay", delay, "priority", opts.priority or 0, "attemptsMade", 0)
if delay > 0 then
  redis.call("ZADD", KEYS[2], timestamp + delay, jobId)
elseif opts.lifo then
  redis.call("RPUSH", KEYS[1], jobId)
else
  redis.call("LPUSH", KEYS[1], jobId)
end
return {jobId, 1}
"""

# KEYS: wait list, active list. ARGV: prefix, lock token, timestamp.
MOVE_TO_ACTIVE = """
local jobId = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
if not jobId then return {} end
local jobKey = ARGV[1] .. jobId
redis.call("HSET", jobKey, "processedOn", ARGV[3], "token", ARGV[2])
redis.call("HINCRBY", jobKey, "attemptsMade", 1)
local data = cjson.decode(redis.call("HGET", jobKey, "data"))
return {jobId, redis.call("HGET", jobKey, "name"), cjson.encode(data), redis.call("HGET", jobKey, "attemptsMade")}
"""

# KEYS: active list, completed zset. ARGV: job id, timestamp, return value as JSON,
# msgpack {keepJobs = {count = n}}, prefix.
MOVE_TO_FINISHED = """
local jobKey = ARGV[5] .. ARGV[1]
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then return -3 end
local opts = cjson.decode(redis.call("HGET", jobKey, "opts"))
local finish = cmsgpack.unpack(ARGV[4])
redis.call("HSET", jobKey, "returnvalue", ARGV[3], "finishedOn", ARGV[2])
if opts.removeOnComplete == true then
  redis.call("DEL", jobKey)
else
  redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
  local keep = finish.keepJobs.count
  local excess = redis.call("ZCARD", KEYS[2]) - keep
  if excess > 0 then
    for _, id in ipairs(redis.call("ZRANGE", KEYS[2], 0, excess - 1)) do redis.call("DEL", ARGV[5] .. id) end
    redis.call("ZREMRANGEBYRANK", KEYS[2], 0, excess - 1)
  end
end
return cjson.encode({attempts = opts.attempts, returned = cjson.decode(ARGV[3])})
"""

PREFIX = "bull:q:"
WAIT, ACTIVE, DELAYED, COMPLETED, ID = (PREFIX + k for k in ("wait", "active", "delayed", "completed", "id"))


def add_job(client: redis.Redis, name: str, data: object, custom_id: str = "", **opts: object) -> list[object]:
    args = msgpack.packb([PREFIX, custom_id, name, 1700000000000])
    reply = client.eval(ADD_JOB, 3, WAIT, DELAYED, ID, args, json.dumps(data), msgpack.packb(opts))
    assert isinstance(reply, list)
    return reply


def test_a_bullmq_style_queue(client: redis.Redis) -> None:
    assert add_job(client, "email", {"to": "ann"}, attempts=3) == [b"1", 1]
    assert add_job(client, "email", {"to": "bob", "n": [1, 2.5]}, attempts=1, removeOnComplete=True) == [b"2", 1]
    assert add_job(client, "report", {}, delay=5000) == [b"3", 1]
    assert add_job(client, "urgent", {"x": None}, lifo=True) == [b"4", 1]
    assert add_job(client, "named", {"k": "v"}, "custom-7") == [b"custom-7", 1]
    assert add_job(client, "named", {"k": "other"}, "custom-7") == [b"custom-7", 0]
    assert client.lrange(WAIT, 0, -1) == [b"custom-7", b"2", b"1", b"4"]
    assert client.zrange(DELAYED, 0, -1, withscores=True) == [(b"3", 1700000005000.0)]
    assert client.hget(PREFIX + "1", "opts") == b'{"attempts":3}'
    assert client.hget(PREFIX + "3", "delay") == b"5000"

    taken = [client.eval(MOVE_TO_ACTIVE, 2, WAIT, ACTIVE, PREFIX, "token-1", 1700000001000) for _ in range(3)]
    assert taken == [
        [b"4", b"urgent", b'{"x":null}', b"1"],
        [b"1", b"email", b'{"to":"ann"}', b"1"],
        [b"2", b"email", b'{"to":"bob","n":[1,2.5]}', b"1"],
    ]
    assert client.lrange(ACTIVE, 0, -1) == [b"2", b"1", b"4"]

    keep_one = msgpack.packb({"keepJobs": {"count": 1}})

    def finish(job_id: str, when: int, returned: object) -> object:
        return client.eval(MOVE_TO_FINISHED, 2, ACTIVE, COMPLETED, job_id, when, json.dumps(returned), keep_one, PREFIX)

    assert finish("4", 1700000002000, {"ok": True}) == b'{"returned":{"ok":true}}'
    assert finish("1", 1700000003000, [1, "two"]) == b'{"returned":[1,"two"],"attempts":3}'
    assert finish("2", 1700000004000, None) == b'{"returned":null,"attempts":1}'
    assert finish("2", 1700000005000, None) == -3
    # job 2 was removed on completion, job 4 fell out of the one kept
    assert client.zrange(COMPLETED, 0, -1) == [b"1"]
    assert client.exists(PREFIX + "4", PREFIX + "2") == 0
    assert client.hmget(PREFIX + "1", "attemptsMade", "finishedOn", "returnvalue") == [
        b"1",
        b"1700000003000",
        b'[1, "two"]',
    ]
    assert client.llen(ACTIVE) == 0


# --- limits -------------------------------------------------------------------------------------

STRATEGIES = [FixedWindowRateLimiter, MovingWindowRateLimiter, SlidingWindowCounterRateLimiter]


@pytest.fixture
def storage(client: redis.Redis) -> RedisStorage:
    return RedisStorage(f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}")


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.__name__)
def test_limits_strategies(storage: RedisStorage, strategy: type[RateLimiter]) -> None:
    limiter = strategy(storage)
    item = parse("5/minute")
    assert [limiter.hit(item, "user", "login") for _ in range(7)] == [True] * 5 + [False] * 2
    assert not limiter.test(item, "user", "login")
    assert limiter.get_window_stats(item, "user", "login").remaining == 0
    # another identity has its own window; a cost counts that many hits
    assert limiter.hit(item, "other", cost=3)
    assert limiter.get_window_stats(item, "other").remaining == 2
    assert not limiter.hit(item, "other", cost=3)
    limiter.clear(item, "user", "login")
    assert limiter.hit(item, "user", "login")
    assert limiter.get_window_stats(item, "user", "login").remaining == 4


def test_limits_storage_reset(storage: RedisStorage) -> None:
    limiter = MovingWindowRateLimiter(storage)
    item = parse("2/second")
    for key in ("a", "b", "c"):
        assert limiter.hit(item, key)
    assert storage.reset() == 3
    assert limiter.get_window_stats(item, "a").remaining == 2
