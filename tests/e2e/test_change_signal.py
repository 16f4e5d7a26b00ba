"""The change signal, against kvserver and redis-server side by side.

A client blocked in BLPOP / BZPOPMIN on a missing key is served whichever way the key is created
(Redis signals readiness from the keyspace, in dbAdd); WATCH is touched by every real change to
a watched key (expiry, FLUSHALL, both ends of RENAME) and by no no-op.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support import ServerProcess, call, wait_for
from tests.support import command as send

SERVERS = ["kvserver", "redis"]


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> ServerProcess:
    fixture = "kv_server" if request.param == "kvserver" else "real_redis"
    process: ServerProcess = request.getfixturevalue(fixture)
    return process


@pytest.fixture
def r(server: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, protocol=2, socket_timeout=5)
    client.flushall()
    yield client
    client.close()


def blocked_clients(r: redis.Redis) -> int:
    return int(r.info("clients")["blocked_clients"])


def block(server: ServerProcess, r: redis.Redis, *command: str) -> redis.Connection:
    """Send a blocking command on a connection of its own; return once the server parked it."""
    conn: redis.Connection = call(redis.Connection, port=server.port, socket_timeout=5)
    call(conn.send_command, *command)
    wait_for(lambda: blocked_clients(r) == 1)
    return conn


# (setup, creation) for each way a list can come to exist at "dst"
LIST_CREATIONS: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, ...]]]] = {
    "lpush": ([], [("LPUSH", "dst", "x")]),
    "rpush": ([], [("RPUSH", "dst", "x")]),
    "rename": ([("RPUSH", "src", "x")], [("RENAME", "src", "dst")]),
    "rename-over-a-string": ([("RPUSH", "src", "x")], [("SET", "dst", "s"), ("RENAME", "src", "dst")]),
    "renamenx": ([("RPUSH", "src", "x")], [("RENAMENX", "src", "dst")]),
    "copy": ([("RPUSH", "src", "x")], [("COPY", "src", "dst")]),
    "copy-replace-a-string": ([("RPUSH", "src", "x")], [("SET", "dst", "s"), ("COPY", "src", "dst", "REPLACE")]),
    "lmove": ([("RPUSH", "src", "x")], [("LMOVE", "src", "dst", "LEFT", "RIGHT")]),
    "rpoplpush": ([("RPUSH", "src", "x")], [("RPOPLPUSH", "src", "dst")]),
    "blmove-at-once": ([("RPUSH", "src", "x")], [("BLMOVE", "src", "dst", "LEFT", "LEFT", "0")]),
    "brpoplpush-at-once": ([("RPUSH", "src", "x")], [("BRPOPLPUSH", "src", "dst", "0")]),
    "multi-lpush": ([], [("MULTI",), ("LPUSH", "dst", "x"), ("EXEC",)]),
    "multi-rename": ([("RPUSH", "src", "x")], [("MULTI",), ("RENAME", "src", "dst"), ("EXEC",)]),
}

ZSET_CREATIONS: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, ...]]]] = {
    "zadd": ([], [("ZADD", "dst", "1", "x")]),
    "zincrby": ([], [("ZINCRBY", "dst", "1", "x")]),
    "zrangestore": ([("ZADD", "src", "1", "x")], [("ZRANGESTORE", "dst", "src", "0", "-1")]),
    "rename": ([("ZADD", "src", "1", "x")], [("RENAME", "src", "dst")]),
    "renamenx": ([("ZADD", "src", "1", "x")], [("RENAMENX", "src", "dst")]),
    "copy": ([("ZADD", "src", "1", "x")], [("COPY", "src", "dst")]),
    "multi-zadd": ([], [("MULTI",), ("ZADD", "dst", "1", "x"), ("EXEC",)]),
}


def run(r: redis.Redis, commands: list[tuple[str, ...]]) -> None:
    """Run the commands; MULTI ... EXEC as a transaction (redis-py parses the QUEUED replies)."""
    if commands[:1] == [("MULTI",)]:
        assert commands[-1] == ("EXEC",)
        with r.pipeline(transaction=True) as pipe:
            for queued in commands[1:-1]:
                send(pipe, *queued)
            pipe.execute()
        return
    for each in commands:
        send(r, *each)


def served(
    server: ServerProcess,
    r: redis.Redis,
    waiting: tuple[str, ...],
    setup_and_creation: tuple[list[tuple[str, ...]], ...],
) -> object:
    """Block with ``waiting`` on "dst", create "dst"; the blocked client's reply."""
    setup, creation = setup_and_creation
    run(r, setup)
    waiter = block(server, r, *waiting)
    try:
        run(r, creation)
        reply = waiter.read_response()
        assert blocked_clients(r) == 0
        return reply
    finally:
        call(waiter.disconnect)


@pytest.mark.parametrize("case", list(LIST_CREATIONS))
def test_blpop_is_served_when_its_key_is_created(server: ServerProcess, r: redis.Redis, case: str) -> None:
    assert served(server, r, ("BLPOP", "dst", "0"), LIST_CREATIONS[case]) == [b"dst", b"x"]


@pytest.mark.parametrize("case", list(ZSET_CREATIONS))
def test_bzpopmin_is_served_when_its_key_is_created(server: ServerProcess, r: redis.Redis, case: str) -> None:
    reply = served(server, r, ("BZPOPMIN", "dst", "0"), ZSET_CREATIONS[case])
    assert isinstance(reply, list)
    key, member, score = reply
    assert (key, member, float(score)) == (b"dst", b"x", 1.0)  # redis-py parses the score


# (setup, the key watched, what another client does, whether EXEC then fails)
WATCH_CASES: dict[str, tuple[list[tuple[str, ...]], str, list[tuple[str, ...]], bool]] = {
    "set": ([("SET", "k", "v")], "k", [("SET", "k", "w")], True),
    "set-same-value": ([("SET", "k", "v")], "k", [("SET", "k", "v")], True),
    "flushall": ([("SET", "k", "v")], "k", [("FLUSHALL",)], True),
    "flushall-missing-key": ([("SET", "other", "v")], "k", [("FLUSHALL",)], False),
    "rename-source": ([("SET", "k", "v")], "k", [("RENAME", "k", "dst")], True),
    "rename-destination": ([("SET", "src", "v")], "k", [("RENAME", "src", "k")], True),
    "copy-source": ([("SET", "k", "v")], "k", [("COPY", "k", "dst")], False),
    "copy-destination": ([("SET", "src", "v")], "k", [("COPY", "src", "k")], True),
    "push-creates": ([], "k", [("RPUSH", "k", "x")], True),
    "push-other-key": ([], "k", [("RPUSH", "other", "x")], False),
    "set-nx-existing": ([("SET", "k", "v")], "k", [("SET", "k", "w", "NX")], False),
    "del-missing": ([], "k", [("DEL", "k")], False),
    "del-other-of-two": ([("SET", "a", "1")], "k", [("DEL", "a", "k")], False),
    "lpushx-missing": ([], "k", [("LPUSHX", "k", "x")], False),
    "srem-missing-member": ([("SADD", "k", "a")], "k", [("SREM", "k", "zz")], False),
    "expire-missing": ([], "k", [("EXPIRE", "k", "100")], False),
    "expire": ([("SET", "k", "v")], "k", [("EXPIRE", "k", "100")], True),
    "lpop-served-from-other-key": ([("RPUSH", "a", "x")], "k", [("BLPOP", "a", "k", "0")], False),
}


@pytest.mark.parametrize("case", list(WATCH_CASES))
def test_watch_is_touched_by_changes_only(server: ServerProcess, r: redis.Redis, case: str) -> None:
    setup, watched, action, fails = WATCH_CASES[case]
    run(r, setup)
    other = redis.Redis(port=server.port, protocol=2, socket_timeout=5)
    try:
        with r.pipeline(transaction=True) as pipe:
            call(pipe.watch, watched)
            run(other, action)
            pipe.multi()
            pipe.ping()
            if fails:
                with pytest.raises(redis.WatchError):
                    pipe.execute()
            else:
                assert pipe.execute() == [True]
    finally:
        other.close()


def test_watch_is_touched_by_expiry(server: ServerProcess, r: redis.Redis) -> None:
    r.set("k", "v", px=200)
    other = redis.Redis(port=server.port, protocol=2, socket_timeout=5)
    try:
        with r.pipeline(transaction=True) as pipe:
            call(pipe.watch, "k")
            wait_for(lambda: other.exists("k") == 0)  # expired, and removed by this access
            pipe.multi()
            pipe.ping()
            with pytest.raises(redis.WatchError):
                pipe.execute()
    finally:
        other.close()
