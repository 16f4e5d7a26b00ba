"""SLOWLOG, LATENCY, MEMORY, MODULE and CLIENT introspection against kvserver and redis-server
side by side: reply shapes and error texts byte for byte, entries field by field."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from kvserver.protocol import encode_command
from tests.support import RawClient, ServerProcess, assert_same_replies, read_raw_reply, wait_for


def command(client: redis.Redis, *args: str | int) -> Any:
    """redis-py's execute_command, typed."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


# Nothing here depends on time, ids, addresses or the memory in use. The script leaves the
# server's configuration as it found it (the real redis-server is shared by the session).
SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("SET", "k", "v"),
    ("RPUSH", "l", "a", "b", "c"),
    # --- SLOWLOG
    ("SLOWLOG", "HELP"),
    ("SLOWLOG", "HELP", "x"),
    ("SLOWLOG", "GET", "x"),
    ("SLOWLOG", "GET", "-2"),
    ("SLOWLOG", "GET", "1", "2"),
    ("SLOWLOG", "LEN", "x"),
    ("SLOWLOG", "RESET", "x"),
    ("SLOWLOG", "FOO"),
    ("SLOWLOG",),
    ("SLOWLOG", "RESET"),
    ("SLOWLOG", "LEN"),
    ("SLOWLOG", "GET", "0"),
    # --- LATENCY
    ("LATENCY", "HELP", "x"),
    ("LATENCY", "RESET"),
    ("LATENCY", "LATEST"),
    ("LATENCY", "LATEST", "x"),
    ("LATENCY", "HISTORY"),
    ("LATENCY", "HISTORY", "command"),
    ("LATENCY", "RESET", "command", "nosuch"),
    ("LATENCY", "DOCTOR"),  # the monitor is off
    ("CONFIG", "SET", "latency-monitor-threshold", "200"),
    ("LATENCY", "DOCTOR"),  # on, nothing seen
    ("CONFIG", "SET", "latency-monitor-threshold", "0"),
    ("LATENCY", "FOO"),
    ("LATENCY", "HISTOGRAM", "nosuch", "client|nosuch", "nosuch|x"),
    # --- MEMORY
    ("MEMORY", "HELP", "x"),
    ("MEMORY", "USAGE"),
    ("MEMORY", "USAGE", "missing"),
    ("MEMORY", "USAGE", "k", "foo"),
    ("MEMORY", "USAGE", "k", "SAMPLES"),
    ("MEMORY", "USAGE", "k", "SAMPLES", "x"),
    ("MEMORY", "USAGE", "k", "SAMPLES", "-1"),
    ("MEMORY", "STATS", "x"),
    ("MEMORY", "DOCTOR", "x"),
    ("MEMORY", "FOO"),
    # --- MODULE
    ("MODULE", "LIST"),
    ("MODULE", "LIST", "x"),
    # --- CLIENT
    ("CLIENT", "REPLY"),
    ("CLIENT", "REPLY", "maybe"),
    ("CLIENT", "REPLY", "ON"),
    ("CLIENT", "NO-EVICT", "maybe"),
    ("CLIENT", "NO-EVICT", "on"),
    ("CLIENT", "NO-EVICT", "off"),
    ("CLIENT", "KILL", "TYPE", "foo"),
    ("CLIENT", "KILL", "TYPE", "pubsub"),
    ("CLIENT", "KILL", "TYPE", "master"),
    ("CLIENT", "KILL", "USER", "nosuch"),
    ("CLIENT", "KILL", "ID", "abc"),
    ("CLIENT", "KILL", "ID", "0"),
    ("CLIENT", "KILL", "ID", "999999"),
    ("CLIENT", "KILL", "MAXAGE", "1"),  # Redis 7.4's, a syntax error in 7.0
    ("CLIENT", "KILL", "SKIPME", "maybe"),
    ("CLIENT", "KILL", "SKIPME"),
    ("CLIENT", "KILL", "1.2.3.4:5"),
    ("CLIENT", "KILL", "ADDR", "1.2.3.4:5"),
    ("CLIENT", "KILL", "LADDR", "1.2.3.4:5"),
    ("CLIENT", "KILL", "USER", "default", "TYPE", "normal", "SKIPME", "yes"),
    ("CLIENT", "LIST", "TYPE", "foo"),
    ("CLIENT", "LIST", "TYPE", "pubsub"),
    ("CLIENT", "LIST", "TYPE", "replica"),
    ("CLIENT", "LIST", "ID", "abc"),
    ("CLIENT", "LIST", "ID", "0"),
    ("CLIENT", "LIST", "FOO"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_introspection_replies_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPT)


def _slow_entries(port: int) -> list[list[Any]]:
    """Every command logged (slowlog-log-slower-than 0), entries without id, time and duration."""
    client = redis.Redis(port=port, protocol=2)
    try:
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 5)
        client.slowlog_reset()
        client.client_setname("tool")
        client.sadd("set", *range(3, 34))  # 33 arguments: trimmed to 32
        client.sadd("set", "foo", "A" * 129)  # a long argument: trimmed to 128 bytes
        command(client, "AUTH", "default", "secret")  # fails, and is redacted
        client.config_set("slowlog-log-slower-than", -1)
        raw = command(client, "SLOWLOG", "GET", "-1")
        me = str(client.client_info()["addr"])
        entries: list[list[Any]] = []
        for entry in raw:
            assert len(entry) == 6
            assert all(isinstance(entry[j], int) for j in range(3))  # id, time, duration
            assert entry[4] == me.encode()
            entries.append([entry[3], entry[5]])
        return entries
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.config_set("slowlog-max-len", 128)
        client.close()


@pytest.mark.external
def test_slowlog_entries_match_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    ours = _slow_entries(kv_server.port)
    assert ours == _slow_entries(real_redis.port)
    assert ours[-1] == [[b"SLOWLOG", b"RESET"], b""]
    # the newest first; the CONFIG SET to -1 is not logged (it ran with the new threshold)
    assert ours[0] == [[b"AUTH", b"(redacted)", b"(redacted)"], b"tool"]
    assert ours[1][0] == [b"SADD", b"set", b"foo", b"A" * 128 + b"... (1 more bytes)"]
    assert ours[2][0][-1] == b"... (2 more arguments)"
    assert len(ours[2][0]) == 32


def _reply_modes(port: int) -> bytes:
    """Everything the server sends back to a script of CLIENT REPLY ON/OFF/SKIP."""
    client = RawClient(port)
    script = [
        ("CLIENT", "REPLY", "OFF"),
        ("PING", "off1"),
        ("GET",),  # an error is suppressed too
        ("CLIENT", "REPLY", "SKIP"),  # while OFF: still no reply, and OFF stays
        ("PING", "off2"),
        ("PING", "off3"),
        ("CLIENT", "REPLY", "ON"),
        ("PING", "on1"),
        ("CLIENT", "REPLY", "SKIP"),
        ("PING", "skipped"),
        ("PING", "on2"),
        ("CLIENT", "REPLY", "OFF"),
        ("RESET",),  # clears the reply mode, and is answered
        ("PING", "after-reset"),
    ]
    client.send(b"".join(encode_command(*step) for step in script))
    out = b""
    while not out.endswith(b"+after-reset\r\n") and not out.endswith(b"$11\r\nafter-reset\r\n"):
        out += read_raw_reply(client)
    client.close()
    return out


@pytest.mark.external
def test_client_reply_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    ours = _reply_modes(kv_server.port)
    assert ours == _reply_modes(real_redis.port)
    assert ours == b"+OK\r\n$3\r\non1\r\n$3\r\non2\r\n+RESET\r\n$11\r\nafter-reset\r\n"


def _client_fields(port: int) -> tuple[list[str], dict[str, str]]:
    client = redis.Redis(port=port, protocol=2)
    other = redis.Redis(port=port, protocol=2)
    try:
        other.client_setname("other")
        command(client, "CLIENT", "NO-EVICT", "on")
        info = command(client, "CLIENT", "INFO")
        line = info.decode() if isinstance(info, bytes) else str(info)
        names = [field.split("=", 1)[0] for field in line.strip().split(" ")]
        fields = dict(field.split("=", 1) for field in line.strip().split(" "))
        listed = command(client, "CLIENT", "LIST", "ID", str(other.client_id()))
        assert b"name=other " in listed
        assert listed.count(b"\n") == 1
        return names, fields
    finally:
        command(client, "CLIENT", "NO-EVICT", "off")
        client.close()
        other.close()


@pytest.mark.external
def test_client_info_fields_match_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    our_names, ours = _client_fields(kv_server.port)
    their_names, theirs = _client_fields(real_redis.port)
    # Redis 7.0's fields, in its order (kvserver adds 7.2's lib-name and lib-ver at the end)
    assert our_names[: len(their_names)] == their_names
    for name in (
        "flags",
        "db",
        "sub",
        "psub",
        "ssub",
        "multi",
        "qbuf",
        "argv-mem",
        "cmd",
        "user",
        "redir",
        "resp",
        "events",
    ):
        assert ours[name] == theirs[name], name
    assert ours["flags"] == "e"  # CLIENT NO-EVICT on
    assert ours["cmd"] == "client|info"


@pytest.mark.external
@pytest.mark.parametrize("server", ["kvserver", "redis"])
def test_client_kill_by_type_and_user(kv_server: ServerProcess, real_redis: ServerProcess, server: str) -> None:
    port = kv_server.port if server == "kvserver" else real_redis.port
    admin = redis.Redis(port=port, protocol=2)
    victims = [RawClient(port) for _ in range(3)]
    try:
        for victim in victims:
            victim.send(encode_command("PING"))
            assert read_raw_reply(victim) == b"+PONG\r\n"
        ids = [int(c.split(b"id=")[1].split(b" ")[0]) for c in command(admin, "CLIENT", "LIST").splitlines()]
        assert len(ids) >= 4
        assert command(admin, "CLIENT", "KILL", "TYPE", "pubsub") == 0
        killed = command(admin, "CLIENT", "KILL", "USER", "default", "TYPE", "normal")
        assert killed >= 3  # every other client (SKIPME yes by default)
        for victim in victims:
            assert victim.recv_until_closed() == b""
        wait_for(lambda: command(admin, "CLIENT", "LIST").count(b"\n") == 1)
        assert admin.ping()
    finally:
        for victim in victims:
            victim.close()
        admin.close()
