"""The same command script against kvserver and a real redis-server: every reply, byte for byte.

This is where error texts are held to Redis's: each case that differs fails with both replies.
"""

from __future__ import annotations

import pytest

from kvserver.protocol import encode_command
from tests.support import RawClient, ServerProcess

# Each step is one command. Replies that depend on time, ids or the host are not in this script.
SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    # --- SET and its options
    ("SET", "k", "v"),
    ("SET", "k", "v2", "GET"),
    ("SET", "k", "v3", "NX"),
    ("SET", "k", "v3", "NX", "GET"),
    ("SET", "new", "v", "XX"),
    ("SET", "new", "v", "XX", "GET"),
    ("SET", "k", "v", "NX", "XX"),
    ("SET", "k", "v", "XX", "NX"),
    ("SET", "k", "v", "EX", "10", "PX", "100"),
    ("SET", "k", "v", "EX", "10", "KEEPTTL"),
    ("SET", "k", "v", "KEEPTTL", "PXAT", "1"),
    ("SET", "k", "v", "EX"),
    ("SET", "k", "v", "EX", "0"),
    ("SET", "k", "v", "EX", "-5"),
    ("SET", "k", "v", "PX", "abc"),
    ("SET", "k", "v", "EX", "9223372036854775807"),
    ("SET", "k", "v", "PX", "9223372036854775807"),
    ("SET", "k", "v", "EXAT", "0"),
    ("SET", "k", "v", "FOO"),
    ("SET", "k", "v", "EX", "100", "EX", "200"),
    ("TTL", "k"),
    ("SET", "k", "v", "KEEPTTL"),
    ("TTL", "k"),
    ("SET", "k"),
    ("GET",),
    ("GET", "k", "extra"),
    ("GET", "missing"),
    ("SETNX", "k", "x"),
    ("SETNX", "fresh", "x"),
    ("SETEX", "k", "0", "v"),
    ("SETEX", "k", "abc", "v"),
    ("SETEX", "k", "100", "v"),
    ("PSETEX", "k", "-1", "v"),
    ("GETSET", "k", "gs"),
    ("GETDEL", "k"),
    ("GETDEL", "k"),
    ("GETEX", "missing"),
    ("SET", "k", "v"),
    ("GETEX", "k", "EX", "0"),
    ("GETEX", "k", "NX"),
    ("GETEX", "k", "EX", "100", "PERSIST"),
    ("GETEX", "k", "PERSIST"),
    ("TTL", "k"),
    ("MSET", "a", "1", "b"),
    ("MSET", "a", "1", "b", "2"),
    ("MGET", "a", "b", "nope"),
    ("MSETNX", "a", "1", "c", "3"),
    ("MSETNX", "c", "3", "d", "4"),
    # --- numbers
    ("INCR", "a"),
    ("INCRBY", "a", "10"),
    ("INCRBY", "a", "x"),
    ("INCRBY", "a", "1.5"),
    ("DECR", "a"),
    ("DECRBY", "a", "5"),
    ("DECRBY", "a", "-9223372036854775808"),
    ("SET", "big", "9223372036854775807"),
    ("INCR", "big"),
    ("SET", "neg", "-9223372036854775808"),
    ("DECR", "neg"),
    ("SET", "txt", "hello"),
    ("INCR", "txt"),
    ("SET", "spaced", " 1"),
    ("INCR", "spaced"),
    ("SET", "lead0", "01"),
    ("INCR", "lead0"),
    ("INCRBYFLOAT", "fl", "10.5"),
    ("INCRBYFLOAT", "fl", "0.1"),
    ("INCRBYFLOAT", "fl", "-10.6"),
    ("INCRBYFLOAT", "fl", "1e3"),
    ("INCRBYFLOAT", "fl", "abc"),
    ("INCRBYFLOAT", "fl", "inf"),
    ("INCRBYFLOAT", "txt", "1"),
    ("INCRBYFLOAT", "a", "2.25"),
    # --- string ranges
    ("SET", "s", "Hello World"),
    ("APPEND", "s", "!"),
    ("APPEND", "nokey", "abc"),
    ("STRLEN", "s"),
    ("STRLEN", "nope"),
    ("GETRANGE", "s", "0", "4"),
    ("GETRANGE", "s", "-6", "-1"),
    ("GETRANGE", "s", "5", "2"),
    ("GETRANGE", "s", "-1", "-5"),
    ("GETRANGE", "s", "0", "100"),
    ("GETRANGE", "s", "x", "1"),
    ("GETRANGE", "nope", "0", "1"),
    ("SUBSTR", "s", "0", "2"),
    ("SETRANGE", "s", "6", "Redis"),
    ("GET", "s"),
    ("SETRANGE", "pad", "3", "x"),
    ("GET", "pad"),
    ("SETRANGE", "s", "-1", "x"),
    ("SETRANGE", "empty", "10", ""),
    ("SETRANGE", "s", "0", ""),
    ("EXISTS", "empty"),
    # --- keys
    ("DEL", "a", "b", "nope"),
    ("DEL",),
    ("UNLINK", "c", "d"),
    ("EXISTS", "s", "s", "nope"),
    ("TOUCH", "s", "nope"),
    ("TYPE", "s"),
    ("TYPE", "nope"),
    ("RENAME", "nope", "x"),
    ("RENAME", "s", "s"),
    ("RENAMENX", "s", "s"),
    ("RENAME", "s", "s2"),
    ("SET", "other", "o"),
    ("RENAMENX", "s2", "other"),
    ("RENAMENX", "s2", "s3"),
    ("COPY", "s3", "s3"),
    ("COPY", "nope", "x"),
    ("COPY", "s3", "other"),
    ("COPY", "s3", "other", "REPLACE"),
    ("COPY", "s3", "other", "DB", "99"),
    ("COPY", "s3", "other", "BOGUS"),
    ("GET", "other"),
    ("KEYS", "s3*"),
    ("KEYS", "[s]?"),
    ("SCAN", "abc"),
    ("SCAN", "0", "COUNT", "0"),
    ("SCAN", "0", "COUNT", "x"),
    ("SCAN", "0", "MATCH"),
    ("SCAN", "0", "BOGUS", "1"),
    ("DBSIZE",),
    ("DBSIZE", "x"),
    # --- expiry
    ("EXPIRE", "nope", "10"),
    ("EXPIRE", "other", "abc"),
    ("EXPIRE", "other", "10", "NX", "XX"),
    ("EXPIRE", "other", "10", "GT", "LT"),
    ("EXPIRE", "other", "10", "NX", "GT"),
    ("EXPIRE", "other", "10", "BOGUS"),
    ("EXPIRE", "other", "10", "XX"),
    ("EXPIRE", "other", "100", "NX"),
    ("EXPIRE", "other", "100", "NX"),
    ("EXPIRE", "other", "50", "GT"),
    ("EXPIRE", "other", "500", "GT"),
    ("EXPIRE", "other", "600", "LT"),
    ("TTL", "other"),
    ("EXPIRE", "other", "9223372036854775807"),
    ("PEXPIRE", "other", "9223372036854775807"),
    ("EXPIRETIME", "nope"),
    ("PEXPIRETIME", "s3"),
    ("PERSIST", "other"),
    ("PERSIST", "other"),
    ("PERSIST", "nope"),
    ("TTL", "other"),
    ("PTTL", "nope"),
    ("EXPIREAT", "other", "1"),
    ("EXISTS", "other"),
    ("PEXPIREAT", "s3", "1"),
    ("GET", "s3"),
    ("EXPIRE", "pad", "-1"),
    ("EXISTS", "pad"),
    # --- connection
    ("PING",),
    ("PING", "hello"),
    ("PING", "a", "b"),
    ("ECHO", "x"),
    ("ECHO",),
    ("SELECT", "0"),
    ("SELECT", "99"),
    ("SELECT", "x"),
    ("AUTH", "x"),
    ("AUTH", "a", "b", "c"),
    ("AUTH", "default", "whatever"),
    ("AUTH", "someone", "pw"),
    ("HELLO", "4"),
    ("HELLO", "x"),
    ("HELLO", "2", "BOGUS"),
    ("HELLO", "2", "AUTH", "default"),
    ("HELLO", "2", "SETNAME", "bad name"),
    ("CLIENT",),
    ("CLIENT", "BOGUS"),
    ("CLIENT", "SETNAME", "bad name"),
    ("CLIENT", "SETNAME", "good"),
    ("CLIENT", "GETNAME"),
    ("CLIENT", "SETNAME", ""),
    ("CLIENT", "GETNAME"),
    ("CLIENT", "GETNAME", "x"),
    ("CLIENT", "NO-EVICT", "on"),
    ("CLIENT", "NO-EVICT", "maybe"),
    ("CLIENT", "KILL", "1.2.3.4:5"),
    ("CLIENT", "LIST", "TYPE", "bogus"),
    ("CONFIG", "GET", "appendonly"),
    ("CONFIG", "GET", "nothing*"),
    ("CONFIG", "GET"),
    ("CONFIG", "BOGUS"),
    ("CONFIG", "SET", "bogus-option", "1"),
    ("CONFIG", "SET", "maxclients"),
    ("COMMAND", "BOGUS"),
    ("COMMAND", "INFO", "nosuchcommand"),
    ("COMMAND", "GETKEYS", "GET", "k"),
    ("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"),
    ("COMMAND", "GETKEYS", "PING"),
    ("COMMAND", "GETKEYS", "NOSUCH"),
    ("COMMAND", "GETKEYS", "NOSUCH", "x"),
    ("COMMAND", "GETKEYS", "PING", "x"),
    ("COMMAND", "GETKEYS", "GET", "a", "b"),
    ("COMMAND", "GETKEYS", "GET"),
    ("OBJECT", "ENCODING", "nope"),
    ("SET", "num", "12345"),
    ("OBJECT", "ENCODING", "num"),
    ("OBJECT", "ENCODING", "fresh"),
    ("OBJECT", "BOGUS"),
    ("NOSUCHCOMMAND",),
    ("NOSUCHCOMMAND", "a", "b c"),
    ("nosuchcommand", "x" * 200),
    ("FLUSHALL", "BOGUS"),
    ("FLUSHDB", "SYNC"),
    ("WAIT", "0", "0"),
    # --- transactions
    ("EXEC",),
    ("DISCARD",),
    ("MULTI",),
    ("MULTI",),
    ("WATCH", "x"),
    ("SET", "t", "1"),
    ("INCR", "t"),
    ("GET",),
    ("EXEC",),
    ("MULTI",),
    ("SET", "t", "abc"),
    ("INCR", "t"),
    ("GET", "t"),
    ("EXEC",),
    ("WATCH", "t"),
    ("UNWATCH",),
    ("MULTI",),
    ("PING",),
    ("DISCARD",),
]


def run_script(port: int, resp3: bool, script: list[tuple[str, ...]] = SCRIPT) -> list[bytes]:
    client = RawClient(port)
    replies = []
    if resp3:
        client.send(encode_command("HELLO", "3"))
        client.read_reply()
    for step in script:
        client.send(encode_command(*step))
        replies.append(read_raw_reply(client))
    client.close()
    return replies


def read_raw_reply(client: RawClient, chunk_size: int = 65536) -> bytes:
    """One reply's exact bytes (parsed to find its end, returned raw); ``chunk_size`` 1 leaves
    the replies that follow it in the socket."""
    from kvserver.reply_parser import NEED_DATA, ReplyParser

    data = b""
    while True:
        parser = ReplyParser()
        parser.feed(data)
        if parser.next() is not NEED_DATA:
            return data
        chunk = client.sock.recv(chunk_size)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_every_reply_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPT)


def assert_same_replies(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool, script: list[tuple[str, ...]]
) -> None:
    ours = run_script(kv_server.port, resp3, script)
    theirs = run_script(real_redis.port, resp3, script)
    mismatches = [
        f"{' '.join(step)[:60]}\n    redis:    {want!r}\n    kvserver: {got!r}"
        for step, want, got in zip(script, theirs, ours, strict=True)
        if want != got
    ]
    assert not mismatches, "\n".join(mismatches)
