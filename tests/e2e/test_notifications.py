"""Keyspace notifications end to end, kvserver next to redis-server: a PSUBSCRIBE '__key*__:*'
subscriber collects what each command of a script publishes, and both servers' sequences must
be the same, message for message. After each command the script PUBLISHes a marker on a channel
the subscriber also listens to: what arrived before the marker is exactly that command's events
(both servers publish them inside the command), so nothing is waited for by time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import RawClient, ServerProcess, call, redis_server_process, wait_for

Spawn = Callable[..., ServerProcess]

pytestmark = pytest.mark.external

MARKER = b"notifications-test-marker"

# One command per step; no deadline in it can pass while the script runs (active expiry would
# publish at a time of its own).
SCRIPT: list[str] = [
    "SET a 1",
    "SET a 2 EX 100",
    "SET a 3 PX 100000 GET",
    "SET b 1 NX",
    "SET b 1 NX",
    "SET a 4 KEEPTTL",
    "SETEX c 100 v",
    "PSETEX c 100000 v",
    "SETNX d v",
    "GETSET d x",
    "GETEX d EX 100",
    "GETEX d PERSIST",
    "GETEX d",
    "GETDEL a",
    "GETDEL a",
    "MSET e 1 f 2",
    "MSETNX g 1 h 2",
    "INCR e",
    "DECR e",
    "INCRBY e 3",
    "DECRBY e 3",
    "INCRBYFLOAT e 1.5",
    "APPEND e x",
    "SETRANGE e 0 zz",
    "EXPIRE e 100",
    "PEXPIRE e 100000",
    "EXPIREAT e 9999999999",
    "PEXPIREAT e 9999999999000",
    "EXPIRE e 100 NX",
    "PERSIST e",
    "PERSIST e",
    "EXPIRE e 0",
    "DEL f g h b nosuch",
    "UNLINK c d",
    "RENAME x y",
    "SET r1 v",
    "SET r2 w",
    "RENAME r1 r2",
    "RENAMENX r2 r3",
    "COPY r3 r4",
    "COPY r3 r4 REPLACE",
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX l z",
    "RPUSHX l z",
    "LPUSHX nolist z",
    "LINSERT l BEFORE a q",
    "LSET l 0 w",
    "LREM l 1 w",
    "LTRIM l 0 3",
    "LPOP l",
    "RPOP l 2",
    "RPOPLPUSH l l2",
    "RPOPLPUSH l2 l2",
    "LMOVE l l2 LEFT RIGHT",
    "LMOVE l2 l3 RIGHT LEFT",
    "LPOP l",
    "LPOP l2 5",
    "DEL l3",
    "RPUSH bl a",
    "BLPOP bl 0",
    "SADD s a b c",
    "SADD s a",
    "SREM s a",
    "SREM s a",
    "SADD s2 z",
    "SMOVE s s2 b",
    "SMOVE s s2 c",
    "SADD t x",
    "SINTERSTORE u s2 t",
    "SUNIONSTORE u s2 t",
    "SDIFFSTORE u t t",
    "SADD sp a",
    "SPOP sp",
    "HSET h f 1 g 2",
    "HSETNX h f 3",
    "HSETNX h k 3",
    "HMSET h a 1",
    "HINCRBY h f 1",
    "HINCRBYFLOAT h f 1.5",
    "HDEL h nosuch",
    "HDEL h f g k a",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZINCRBY z 1 a",
    "ZADD z INCR 1 a",
    "ZADD z 1 a",
    "ZADD z NX 2 a",
    "ZREM z a",
    "ZREMRANGEBYSCORE z 2 2",
    "ZREMRANGEBYRANK z 0 0",
    "ZADD z 0 a 0 b 0 c",
    "ZREMRANGEBYLEX z [a [a",
    "ZPOPMIN z",
    "ZPOPMAX z",
    "ZRANGESTORE zr z 0 -1",
    "ZREM z c",
    "ZADD zz 1 a",
    "BZPOPMAX zz 0",
    "RPUSH ml a b c",
    "LMPOP 2 nosuch ml LEFT COUNT 2",
    "LMPOP 1 ml RIGHT COUNT 5",
    "RPUSH ml a",
    "BLMPOP 0 1 ml LEFT",
    "ZADD mz 1 a 2 b 3 c",
    "ZMPOP 1 mz MAX COUNT 2",
    "BZMPOP 0 1 mz MIN COUNT 9",
    "ZADD za 1 a 2 b",
    "ZUNIONSTORE zd 2 za nosuch",
    "ZINTERSTORE zd 2 za zd",
    "ZINTERSTORE zd 2 za nosuch",
    "ZDIFFSTORE zd 1 za",
    "ZDIFFSTORE zd 2 za za",
    "ZDIFFSTORE zd 2 za za",
    "ZRANGESTORE zd za 0 -1",
    "ZRANGESTORE zd za 0 -1",
    "SADD sa a",
    "SADD sm a b",
    "SMOVE sm sa a",
    "SMOVE sm sa b",
    "SUNIONSTORE sd sa",
    "SUNIONSTORE sd sa",
    "SET wrong v",
    "LPUSH wrong x",
    "FLUSHALL",
]


@pytest.fixture(params=["kvserver", "redis"])
def server(request: pytest.FixtureRequest, spawn: Spawn, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own (the flags are server-wide), all classes on, "new" included."""
    if request.param == "kvserver":
        yield spawn("--appendonly", "no", "--notify-keyspace-events", "KEAn")
        return
    process = redis_server_process(tmp_path / "redis", "--notify-keyspace-events", "KEAn").start()
    yield process
    process.terminate()


def open_pubsub(r: redis.Redis) -> Any:
    return r.pubsub()  # type: ignore[no-untyped-call]


def until_marker(pubsub: Any, timeout: float = 5.0) -> list[tuple[bytes, bytes]]:
    """The keyspace messages received before the next marker."""
    messages: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is None:
            continue
        if message["channel"] == MARKER:
            return messages
        messages.append((message["channel"], message["data"]))
    raise AssertionError(f"no marker after {messages}")


def run_script(port: int, script: list[str]) -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    r = redis.Redis(port=port)
    pubsub = open_pubsub(r)
    call(pubsub.psubscribe, "__key*__:*")
    call(pubsub.subscribe, MARKER)
    wait_for(lambda: r.pubsub_numsub(MARKER) == [(MARKER, 1)])
    seen = []
    for step in script:
        with contextlib.suppress(redis.ResponseError):  # (WRONGTYPE: no event, as the script checks)
            call(r.execute_command, *step.split())
        r.publish(MARKER, b"")
        seen.append((step, until_marker(pubsub)))
    pubsub.close()
    r.close()
    return seen


def published(*events: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    """The messages of (key, event) pairs with K and E: the keyspace channel's, then the keyevent's."""
    messages: list[tuple[bytes, bytes]] = []
    for key, event in events:
        messages += [
            (f"__keyspace@0__:{key}".encode(), event.encode()),
            (f"__keyevent@0__:{event}".encode(), key.encode()),
        ]
    return messages


EXPECTED: dict[str, list[tuple[bytes, bytes]]] = {
    # a few steps spelled out, so that both servers agreeing on nothing would still fail
    "SET a 2 EX 100": published(("a", "set"), ("a", "expire")),
    "RENAME r1 r2": published(("r2", "new"), ("r1", "rename_from"), ("r2", "rename_to")),
    "HDEL h f g k a": published(("h", "hdel"), ("h", "del")),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, list[tuple[bytes, bytes]]]]]:
    process = redis_server_process(tmp_path_factory.mktemp("redis"), "--notify-keyspace-events", "KEAn").start()
    try:
        yield run_script(process.port, SCRIPT)
    finally:
        process.terminate()


def test_every_command_publishes_what_redis_publishes(
    spawn: Spawn, reference: list[tuple[str, list[tuple[bytes, bytes]]]]
) -> None:
    server = spawn("--appendonly", "no", "--notify-keyspace-events", "KEAn")
    ours = run_script(server.port, SCRIPT)
    differences = [
        (step, mine, theirs) for (step, mine), (_, theirs) in zip(ours, reference, strict=True) if mine != theirs
    ]
    assert differences == []
    for step, messages in ours:
        if step in EXPECTED:
            assert messages == EXPECTED[step], step


def expiry_messages(port: int, how: str) -> list[tuple[bytes, bytes]]:
    """What a subscriber to "expired" receives for a key with a short TTL, then no more."""
    r = redis.Redis(port=port)
    pubsub = open_pubsub(r)
    call(pubsub.psubscribe, "__keyevent@0__:expired")
    call(pubsub.subscribe, MARKER)
    wait_for(lambda: r.pubsub_numpat() == 1)
    r.set("session:1", "data", px=100)
    received: list[tuple[bytes, bytes]] = []

    def expired() -> bool:
        if how == "lazy":
            r.get("session:1")  # (the active cycle may still be first: one event either way)
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            received.append((message["channel"], message["data"]))
        return bool(received)

    wait_for(expired)
    r.get("session:1")
    r.publish(MARKER, b"")
    received += until_marker(pubsub)  # nothing more: announced once
    pubsub.close()
    r.close()
    return received


@pytest.mark.parametrize("how", ["lazy", "active"])
def test_an_expired_key_is_announced_once(server: ServerProcess, how: str) -> None:
    """The way session layers clean up: "expired" on __keyevent@0__:expired, lazy or active."""
    assert expiry_messages(server.port, how) == [(b"__keyevent@0__:expired", b"session:1")]


def test_an_evicted_key_is_announced_as_evicted(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port)
    r.config_set("maxmemory-policy", "allkeys-random")
    pubsub = open_pubsub(r)
    call(pubsub.psubscribe, "__keyevent@0__:evicted")
    call(pubsub.subscribe, MARKER)
    wait_for(lambda: r.pubsub_numpat() == 1)
    r.set("big", "x" * 1000)
    r.config_set("maxmemory", 1)  # below what any server uses: each key goes, then OOM
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("other", "y")
    r.config_set("maxmemory", 0)
    r.publish(MARKER, b"")
    assert until_marker(pubsub) == [(b"__keyevent@0__:evicted", b"big")]
    pubsub.close()
    r.close()


def test_a_subscriber_with_client_reply_off_still_gets_its_confirmations_and_events(server: ServerProcess) -> None:
    """What Redis's own keyspace tests do: CLIENT REPLY OFF, PSUBSCRIBE, then read the events."""
    r = redis.Redis(port=server.port)
    r.config_set("notify-keyspace-events", "KA")  # as the TCL test: keyspace channels only, no "new"
    sub = RawClient(server.port)
    sub.send(b"CLIENT REPLY OFF\r\nPSUBSCRIBE *\r\n")
    confirmation = b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"
    assert sub.recv_exactly(len(confirmation)) == confirmation
    r.set("foo", "bar")
    message = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n"
    assert sub.recv_exactly(len(message)) == message
    sub.send(b"PING\r\nPUNSUBSCRIBE\r\nCLIENT REPLY ON\r\nPING\r\n")  # PING's pong is a reply: dropped
    expected = b"*3\r\n$12\r\npunsubscribe\r\n$1\r\n*\r\n:0\r\n+OK\r\n+PONG\r\n"
    assert sub.recv_exactly(len(expected)) == expected
    sub.sock.close()
    r.close()
