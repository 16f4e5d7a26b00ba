"""Connections under hostile or unlucky conditions, side by side with redis-server where Redis
behaves the same: bytes echoed in error replies, absurd length texts, the query-buffer limit,
blocked and unauthenticated pipelines, protected mode, and the open-file limit."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from kvserver.protocol import NEED_DATA, ErrorReply, encode_command
from kvserver.reply_parser import ReplyParser
from tests.support import (
    RawClient,
    ServerProcess,
    assert_same_replies,
    command,
    free_port,
    kvserver_process,
    low_file_limit,
    redis_server_process,
    run_script,
    wait_for,
)

EVIL = "x\r\n+OK\r\n:666"  # what a client puts in an argument to forge replies
EVIL_LOWER = "x\r\n+ok\r\n:666"  # for CONFIG SET, whose option names kvserver lowercases

Starter = Callable[..., ServerProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Starter]:
    """``start("kvserver" | "redis", *args)``: a fresh server of either kind, stopped afterwards."""
    started: list[ServerProcess] = []

    def run(kind: str, *args: str, preexec: Callable[[], None] | None = None) -> ServerProcess:
        data_dir = tmp_path / f"{kind}{len(started)}"
        if kind == "kvserver":
            server = kvserver_process(data_dir, "--appendonly", "no", *args)
        else:
            server = redis_server_process(data_dir, *args)
        server.preexec_fn = preexec
        started.append(server)
        return server.start()

    yield run
    for server in started:
        if server.alive():
            server.kill9()


def one_shot(port: int, payload: bytes, source: str | None = None) -> bytes:
    """Send ``payload``, half-close, and return everything until the server closes."""
    sock = socket.create_connection(
        ("127.0.0.1" if source is None else source, port),
        timeout=10,
        source_address=None if source is None else (source, 0),
    )
    try:
        if payload:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data
    finally:
        sock.close()


# --- 18: CR/LF in status and error replies ----------------------------------------------------------

INJECTION_SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("SET", "k", "v"),
    ("EXPIRE", "k", "10", EVIL),
    ("GET", "k"),
    ("DBSIZE",),
    ("CLIENT", "LIST", "TYPE", EVIL),
    ("CONFIG", "SET", EVIL_LOWER, "1"),
    ("HELLO", "3", EVIL),
    (EVIL,),
    ("CLIENT", EVIL),
    ("GET", "k"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_cr_lf_in_error_replies_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, INJECTION_SCRIPT)
    for reply in run_script(kv_server.port, resp3, INJECTION_SCRIPT):
        assert reply.count(b"\r\n") == 1 or not reply.startswith((b"-", b"+"))


@pytest.mark.parametrize(
    "command",
    [
        ("EXPIRE", "k", "10", EVIL),
        ("CONFIG", "SET", "maxclients", EVIL),
        ("CONFIG", "SET", "appendfsync", EVIL),
        ("CONFIG", "SET", EVIL, "1"),
        ("CLIENT", "LIST", "TYPE", EVIL),
        ("CLIENT", "SETINFO", EVIL, "x"),
        ("CLIENT", "SETINFO", "LIB-NAME", EVIL),
        ("HELLO", "3", EVIL),
    ],
    ids=lambda command: " ".join(command[:3]).replace("\r\n", "|"),
)
def test_no_error_reply_can_forge_replies(kv: redis.Redis, kv_server: ServerProcess, command: tuple[str, ...]) -> None:
    # the report's symptom: after the injected error, a client read the forged +OK and :666 as
    # the replies to its next commands
    kv.set("k", "v")
    data = one_shot(kv_server.port, b"".join(encode_command(*c) for c in (command, ("GET", "k"), ("DBSIZE",))))
    parser = ReplyParser()
    parser.feed(data)
    replies = []
    while (reply := parser.next()) is not NEED_DATA:
        replies.append(reply)
    assert len(replies) == 3, replies
    assert isinstance(replies[0], ErrorReply)
    assert replies[1:] == [b"v", 1]


@pytest.mark.external
def test_cr_lf_in_hello_before_auth_matches_redis(start: Starter) -> None:
    servers = [start(kind, "--requirepass", "pw") for kind in ("kvserver", "redis")]
    script: list[tuple[str, ...]] = [("HELLO", "3", EVIL), ("HELLO", "2", "AUTH", EVIL, "pw"), ("PING",)]
    assert_same_replies(servers[0], servers[1], False, script)
    replies = run_script(servers[0].port, False, script)
    assert all(reply.count(b"\r\n") == 1 for reply in replies)


# --- 3: length texts too long for int() ------------------------------------------------------------

DIGITS = b"1" * 5000


@pytest.mark.external
@pytest.mark.parametrize("kind", ["kvserver", "redis"])
@pytest.mark.parametrize("auth", [False, True], ids=["open", "before-auth"])
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"*" + DIGITS + b"\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$" + DIGITS + b"\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    ],
    ids=["multibulk", "bulk"],
)
def test_5000_digit_lengths_are_protocol_errors(
    start: Starter, kind: str, auth: bool, payload: bytes, error: bytes
) -> None:
    server = start(kind, *(("--requirepass", "pw") if auth else ()))
    first = b"-NOAUTH Authentication required.\r\n" if auth else b"+PONG\r\n"
    assert one_shot(server.port, encode_command("PING") + payload) == first + error
    assert one_shot(server.port, encode_command("PING")) == first  # and the server still serves


# --- 9: the query-buffer limit and blocked clients --------------------------------------------------


def assert_config_set_refused(client: redis.Redis, name: str, value: str, why: str) -> None:
    with pytest.raises(redis.ResponseError) as error:
        client.config_set(name, value)
    assert str(error.value) == f"CONFIG SET failed (possibly related to argument '{name}') - {why}"


def client_line(port: int, name: str) -> str:
    r = redis.Redis(port=port, protocol=2)
    try:
        lines = command(r, "CLIENT", "LIST").decode().splitlines()
    finally:
        r.close()
    return next((line for line in lines if f" name={name} " in line), "")


@pytest.mark.external
@pytest.mark.parametrize("kind", ["kvserver", "redis"])
def test_query_buffer_limit_closes_a_blocked_client(start: Starter, kind: str) -> None:
    server = start(kind)
    control = redis.Redis(port=server.port, protocol=2)
    assert control.config_get("client-query-buffer-limit") == {"client-query-buffer-limit": "1073741824"}
    assert_config_set_refused(
        control,
        "client-query-buffer-limit",
        "100",
        "argument must be between 1048576 and 9223372036854775807 inclusive",
    )
    assert control.config_set("client-query-buffer-limit", "1mb") is True
    blocked = RawClient(server.port)
    blocked.send(encode_command("CLIENT", "SETNAME", "big") + encode_command("BLPOP", "nothing", "0"))
    assert blocked.recv_exactly(5) == b"+OK\r\n"
    wait_for(lambda: "cmd=blpop" in client_line(server.port, "big"))
    flood = encode_command("SET", "k", "v" * 1000) * 2100  # 2 MB behind the blocked command
    with contextlib.suppress(OSError):
        blocked.send(flood)  # may fail: closed while we are still sending
    try:
        rest = blocked.recv_until_closed()
    except ConnectionResetError:  # closed with our bytes unread: a reset
        rest = b""
    assert rest == b""  # Redis sends nothing: it frees the client
    blocked.close()
    wait_for(lambda: "Closing client that reached max query buffer length" in server.log())
    line = next(line for line in server.log().splitlines() if "max query buffer length" in line)
    assert re.search(r"name=big .*\(qbuf initial bytes: \"\*3\\r\\n\$3\\r\\nSET\\r\\n\$1\\r\\nk\\r\\n", line), line
    assert control.ping() is True
    control.close()


@pytest.mark.slow
def test_a_blocked_client_is_read_only_up_to_a_bound(kv_server: ServerProcess) -> None:
    # 40 MB pipelined behind BLPOP: kvserver stops reading at ~1 MB (TCP holds the rest on the
    # client's side) instead of buffering all of it; once unblocked, every command is served
    port = kv_server.port
    control = redis.Redis(port=port, protocol=2)
    control.delete("bound")
    blocked = RawClient(port, timeout=60)
    blocked.send(encode_command("CLIENT", "SETNAME", "bound") + encode_command("BLPOP", "bound", "0"))
    assert blocked.recv_exactly(5) == b"+OK\r\n"
    wait_for(lambda: "cmd=blpop" in client_line(port, "bound"))
    count = 40_000
    flood = encode_command("SET", "bound-k", "v" * 1000) * count
    sender = threading.Thread(target=blocked.send, args=(flood,))
    sender.start()

    def qbuf() -> int:
        match = re.search(r" qbuf=(\d+) ", client_line(port, "bound"))
        return int(match.group(1)) if match else 0

    wait_for(lambda: qbuf() > 1024 * 1024)
    # the server holds about one read beyond the bound; the sender is stuck on the full socket
    for _ in range(20):
        assert qbuf() < 2 * 1024 * 1024
        assert sender.is_alive()
        time.sleep(0.05)
    control.rpush("bound", "x")
    expected = b"*2\r\n$5\r\nbound\r\n$1\r\nx\r\n" + b"+OK\r\n" * count
    received = blocked.recv_exactly(len(expected))
    assert received == expected
    sender.join(30)
    assert not sender.is_alive()
    blocked.close()
    control.close()


# --- 10: unauthenticated pipelines -----------------------------------------------------------------


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline_cpu(server: ServerProcess, prefix: bytes, payload: bytes, reply: bytes, count: int) -> float:
    client = RawClient(server.port, timeout=60)
    if prefix:
        client.send(prefix)
        assert client.recv_exactly(5) == b"+OK\r\n"
    before = server_cpu_seconds(server.pid)
    sender = threading.Thread(target=client.send, args=(payload,))
    sender.start()
    assert client.recv_exactly(len(reply) * count) == reply * count
    sender.join()
    used = server_cpu_seconds(server.pid) - before
    client.close()
    return used


@pytest.mark.slow
def test_unauthenticated_pipeline_costs_no_more_than_an_authenticated_one(spawn: Callable[..., ServerProcess]) -> None:
    # 4 MB of inline PINGs before AUTH cost 3x the CPU of the same after AUTH (the rest of the
    # buffer was copied after every command) and stalled every client for 4.6 s
    server = spawn("--appendonly", "no", "--requirepass", "pw")
    count = 700_000
    pings = b"PING\r\n" * count
    authenticated = pipeline_cpu(server, encode_command("AUTH", "pw"), pings, b"+PONG\r\n", count)
    unauthenticated = pipeline_cpu(server, b"", pings, b"-NOAUTH Authentication required.\r\n", count)
    assert unauthenticated < 2 * authenticated + 0.5, (unauthenticated, authenticated)


def test_unauthenticated_client_cannot_make_the_server_hold_a_large_frame(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--appendonly", "no", "--requirepass", "pw")
    # a frame too large to be legitimate before AUTH is refused at its header, before the payload
    assert one_shot(server.port, b"*1\r\n$16385\r\n") == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    assert one_shot(server.port, b"*11\r\n") == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    assert one_shot(server.port, b"*2000000\r\n") == b"-ERR Protocol error: unauthenticated multibulk length\r\n"


# --- 22: protected mode ----------------------------------------------------------------------------

DENIED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    b"for the default user. In this mode connections are only accepted from the loopback interface. "
)


def can_use_second_loopback_address() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


needs_127_0_0_2 = pytest.mark.skipif(not can_use_second_loopback_address(), reason="127.0.0.2 is not usable here")


def two_address_server(start: Starter, kind: str, *args: str) -> ServerProcess:
    # one fixed port for both addresses (redis_server_process picks its own)
    port = ("--port", str(free_port())) if kind == "kvserver" else ()
    return start(kind, *port, "--bind", "127.0.0.1 127.0.0.2", *args)


@needs_127_0_0_2
@pytest.mark.external
@pytest.mark.parametrize("kind", ["kvserver", "redis"])
def test_protected_mode_refuses_clients_not_on_127_0_0_1(start: Starter, kind: str) -> None:
    server = two_address_server(start, kind)
    # nothing sent: a refused client's unread bytes would turn the close into a reset
    remote = one_shot(server.port, b"", source="127.0.0.2")
    assert remote.startswith(DENIED)
    assert remote.endswith(b"the server to start accepting connections from the outside.\r\n")
    assert remote.count(b"\r\n") == 1
    local = redis.Redis(port=server.port, protocol=2)
    assert local.info("stats")["rejected_connections"] == 1
    assert local.config_get("protected-mode") == {"protected-mode": "yes"}
    assert local.config_set("protected-mode", "no") is True
    assert one_shot(server.port, encode_command("PING"), source="127.0.0.2") == b"+PONG\r\n"
    local.close()


@needs_127_0_0_2
@pytest.mark.external
@pytest.mark.parametrize("kind", ["kvserver", "redis"])
@pytest.mark.parametrize(
    ("args", "reply"),
    [
        (("--protected-mode", "no"), b"+PONG\r\n"),
        (("--requirepass", "pw"), b"-NOAUTH Authentication required.\r\n"),
    ],
    ids=["protected-mode-no", "password"],
)
def test_protected_mode_lets_remote_clients_in_when_off_or_with_a_password(
    start: Starter, kind: str, args: tuple[str, ...], reply: bytes
) -> None:
    server = two_address_server(start, kind, *args)
    assert one_shot(server.port, encode_command("PING"), source="127.0.0.2") == reply


# --- 21: maxclients against the open-file limit ----------------------------------------------------


def connect_many(port: int, count: int) -> tuple[list[socket.socket], dict[bytes, int]]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    outcomes: dict[bytes, int] = {}
    for sock in socks:
        try:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(100)
        except OSError as exc:
            reply = type(exc).__name__.encode()
        outcomes[reply] = outcomes.get(reply, 0) + 1
    return socks, outcomes


REDUCED_LOG = [
    "You requested maxclients of 10000 requiring at least 10032 max file descriptors.",
    "Server can't set maximum open files to 10032 because of OS error: Operation not permitted.",
    "Current maximum open files is 256. maxclients has been reduced to 224 to compensate for low ulimit. "
    "If you need higher maxclients increase 'ulimit -n'.",
]


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.parametrize("kind", ["kvserver", "redis"])
def test_maxclients_is_reduced_to_fit_the_open_file_limit(start: Starter, kind: str) -> None:
    server = start(kind, preexec=low_file_limit)
    log = server.log()
    for line in REDUCED_LOG:
        assert line in log
    control = redis.Redis(port=server.port, protocol=2, single_connection_client=True)
    assert control.config_get("maxclients") == {"maxclients": "224"}
    assert_config_set_refused(
        control,
        "maxclients",
        "1000",
        "The operating system is not able to handle the specified number of clients, try with 224",
    )
    assert control.config_get("maxclients") == {"maxclients": "224"}
    assert control.config_set("maxclients", "100") is True
    assert control.config_set("maxclients", "224") is True
    socks, outcomes = connect_many(server.port, 250)
    # every client gets an answer: 223 beside the control client, the rest Redis's error
    assert outcomes == {b"+PONG\r\n": 223, b"-ERR max number of clients reached\r\n": 27}
    for sock in socks:
        sock.close()
    assert control.ping() is True
    control.close()


@pytest.mark.slow
def test_accept_out_of_descriptors_is_logged_and_serving_goes_on(start: Starter) -> None:
    server = start("kvserver", "--maxclients", "200")
    control = redis.Redis(port=server.port, protocol=2, single_connection_client=True)
    assert control.ping() is True
    hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (64, hard))  # descriptors vanish under it
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(100)]
    wait_for(lambda: "Accepting client connection: accept: Too many open files" in server.log())
    assert control.ping() is True  # still serving the clients it has
    start_cpu = server_cpu_seconds(server.pid)
    time.sleep(1)
    assert server_cpu_seconds(server.pid) - start_cpu < 0.5  # not spinning on the listening socket
    assert server.log().count("Too many open files") <= 3  # rate-limited
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (1024, hard))
    # the clients that waited in the backlog are accepted once descriptors are available again
    for sock in socks:
        sock.sendall(b"PING\r\n")
        assert sock.recv(100) == b"+PONG\r\n"
        sock.close()
    control.close()
