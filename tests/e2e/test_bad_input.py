"""Malformed input and limits: each bad client gets Redis's error or a clean close; others don't notice."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

import pytest
import redis

from kvserver.protocol import encode_command
from tests.support import RawClient, ServerProcess, wait_for


def assert_still_serving(server: ServerProcess) -> None:
    assert server.alive()
    r = redis.Redis(port=server.port, protocol=2)
    assert r.ping() is True
    r.close()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"*1\r\n$4\r\nPI", None),  # truncated frame, then the client hangs up
        (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
        (b"*-5\r\n*1\r\n$-3\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$99999999999999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$600000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),  # the CR, as a space
        (b'SET a "b\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"A" * 70_000, b"-ERR Protocol error: too big inline request\r\n"),
        (b"*1\r\n$" + b"9" * 70_000, b"-ERR Protocol error: too big bulk count string\r\n"),
    ],
)
def test_protocol_errors_reply_and_close(kv_server: ServerProcess, payload: bytes, error: bytes | None) -> None:
    client = RawClient(kv_server.port)
    client.send(encode_command("PING") + payload)
    if error is None:
        assert client.recv_exactly(7) == b"+PONG\r\n"
        client.sock.shutdown(socket.SHUT_WR)
        assert client.recv_until_closed() == b""
    else:
        assert client.recv_until_closed() == b"+PONG\r\n" + error
    client.close()
    assert_still_serving(kv_server)


def test_megabyte_of_random_bytes(kv_server: ServerProcess) -> None:
    rng = random.Random(1234)
    for _ in range(3):
        client = RawClient(kv_server.port)
        try:
            client.send(rng.randbytes(1 << 20))
            client.sock.shutdown(socket.SHUT_WR)
            reply = client.recv_until_closed(limit=64 << 20)
        except (ConnectionResetError, BrokenPipeError, OSError):
            reply = b""  # the server closed while we were still sending: also a clean close
        assert reply == b"" or reply.startswith(b"-")
        client.close()
    assert_still_serving(kv_server)


def test_other_clients_do_not_notice(kv_server: ServerProcess) -> None:
    good = redis.Redis(port=kv_server.port)
    good.set("survivor", "yes")
    bad = RawClient(kv_server.port)
    bad.send(b"*1\r\n$-3\r\n")
    assert bad.recv_until_closed().startswith(b"-ERR Protocol error")
    bad.close()
    assert good.get("survivor") == b"yes"
    good.delete("survivor")
    good.close()


def test_pipelined_commands_before_the_error_are_answered(kv_server: ServerProcess) -> None:
    client = RawClient(kv_server.port)
    client.send(
        encode_command("SET", "p", "1") + encode_command("INCR", "p") + b"*1\r\n$x\r\n" + encode_command("PING")
    )
    assert client.recv_until_closed() == b"+OK\r\n:2\r\n-ERR Protocol error: invalid bulk length\r\n"
    client.close()


def test_configured_bulk_limit(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no", "--proto-max-bulk-len", "1mb")
    r = redis.Redis(port=server.port)
    assert r.set("ok", b"x" * 1_000_000) is True
    r.close()
    # only the header of the oversized bulk: the server must judge it before any payload arrives
    raw = RawClient(server.port)
    raw.send(b"*3\r\n$3\r\nSET\r\n$7\r\ntoo-big\r\n$2000000\r\n")
    assert raw.recv_until_closed() == b"-ERR Protocol error: invalid bulk length\r\n"
    raw.close()
    assert_still_serving(server)


def test_max_clients(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no", "--maxclients", "2")
    first, second = RawClient(server.port), RawClient(server.port)
    for client in (first, second):
        assert client.request(encode_command("PING"), 7) == b"+PONG\r\n"
    third = RawClient(server.port)
    assert third.recv_until_closed() == b"-ERR max number of clients reached\r\n"
    third.close()
    first.close()

    def first_is_gone() -> bool:
        second.send(encode_command("INFO", "clients"))
        info = second.read_reply()
        return isinstance(info, bytes) and b"connected_clients:1\r\n" in info

    wait_for(first_is_gone)  # the close and the next connect may otherwise race
    r = redis.Redis(port=server.port, single_connection_client=True)
    assert r.info("stats")["rejected_connections"] == 1
    r.close()
    second.close()


@pytest.mark.slow
def test_requirepass_limits_unauthenticated_frames(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no", "--requirepass", "s3cret")
    client = RawClient(server.port)
    client.send(encode_command("GET", "k"))
    assert client.read_reply() == b"NOAUTH Authentication required."
    client.send(encode_command("SET", "k", "x" * 20_000))
    assert client.recv_until_closed() == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    client.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=server.port, password="wrong").ping()
    r = redis.Redis(port=server.port, password="s3cret")
    assert r.set("k", "x" * 20_000) is True
    r.close()


def test_quit_replies_then_closes(kv_server: ServerProcess) -> None:
    client = RawClient(kv_server.port)
    client.send(encode_command("PING") + encode_command("QUIT") + encode_command("PING"))
    assert client.recv_until_closed() == b"+PONG\r\n+OK\r\n"
    client.close()
