"""Pub/sub and MONITOR end to end: byte-exact replies next to redis-server, redis-py (RESP2, RESP3,
asyncio), redis-cli monitor, ioredis through node, the ordering behind the durability barrier (the
shape of Celery's result backend) and the output buffer limit of a subscriber that never reads."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis

from kvserver.protocol import encode_command
from tests.support import (
    RawClient,
    ServerProcess,
    link_ioredis,
    read_raw_reply,
    redis_server_process,
    require_tool,
    wait_for,
)

Spawn = Callable[..., ServerProcess]

pytestmark = pytest.mark.external


@pytest.fixture(params=["kvserver", "redis"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The shared kvserver, then the real redis-server: the same test runs against both."""
    name = "kv_server" if request.param == "kvserver" else "real_redis"
    process: ServerProcess = request.getfixturevalue(name)
    redis.Redis(port=process.port).flushall()
    return process


# --- byte-exact replies, two connections ----------------------------------------------------------

# (who, frames to read, *command): "s" subscribes, "p" publishes; no command: read pushed frames
Step = tuple[str, int, *tuple[str, ...]]
TWO_CLIENT_SCRIPT: list[Step] = [
    ("s", 1, "UNSUBSCRIBE"),
    ("s", 1, "PUNSUBSCRIBE"),
    ("s", 1, "SUNSUBSCRIBE"),
    ("s", 3, "SUBSCRIBE", "news", "sport", "news"),
    ("s", 2, "PSUBSCRIBE", "n*", "[a-c]?"),
    ("s", 1, "SSUBSCRIBE", "shard"),
    ("s", 1, "GET", "k"),
    ("s", 1, "CONFIG", "GET", "maxmemory"),
    ("s", 1, "MULTI"),
    ("s", 1, "PING"),
    ("s", 1, "PING", "health"),
    ("p", 1, "PUBLISH", "news", "hello"),
    ("s", 2),  # message, then pmessage
    ("p", 1, "PUBLISH", "ab", "x"),
    ("s", 1),
    ("p", 1, "PUBLISH", "nobody", "x"),
    ("p", 1, "SPUBLISH", "shard", "y"),
    ("s", 1),
    ("p", 1, "PUBSUB", "NUMSUB", "news", "sport", "none"),
    ("p", 1, "PUBSUB", "NUMPAT"),
    ("p", 1, "PUBSUB", "CHANNELS", "s*"),
    ("p", 1, "PUBSUB", "SHARDCHANNELS"),
    ("p", 1, "PUBSUB", "SHARDNUMSUB", "shard"),
    ("p", 1, "PUBSUB", "CHANNELS", "a", "b"),
    ("p", 1, "PUBSUB", "NUMPAT", "x"),
    ("p", 1, "PUBSUB", "NOPE"),
    ("p", 1, "PUBSUB", "HELP"),
    ("p", 1, "PUBLISH", "news"),
    ("p", 1, "MULTI"),
    ("p", 1, "PUBLISH", "sport", "in-multi"),
    ("p", 1, "SET", "k", "v"),
    ("p", 1, "EXEC"),
    ("s", 1),
    ("s", 1, "UNSUBSCRIBE", "sport", "never"),
    ("s", 1, "PUNSUBSCRIBE", "[a-c]?"),
    ("s", 2, "UNSUBSCRIBE"),
    ("s", 1, "GET", "k"),  # still subscribed to a pattern and a shard channel
    ("s", 1, "RESET"),
    ("s", 1, "GET", "k"),
    ("p", 1, "PUBLISH", "news", "after-reset"),
    # CLIENT REPLY OFF drops replies, not confirmations and messages (Redis's CLIENT_PUSHING)
    ("s", 0, "CLIENT", "REPLY", "OFF"),
    ("s", 1, "SUBSCRIBE", "quiet"),
    ("p", 1, "PUBLISH", "quiet", "heard"),
    ("s", 1),
    ("s", 1, "UNSUBSCRIBE", "quiet"),
    ("s", 0, "PING"),
    ("s", 0, "CLIENT", "REPLY", "ON"),
    ("s", 1, "SUBSCRIBE", "bye"),
    ("s", 1, "QUIT"),
]


def run_two_clients(port: int, resp3: bool) -> list[bytes]:
    clients = {"s": RawClient(port), "p": RawClient(port)}
    if resp3:
        clients["s"].send(encode_command("HELLO", "3"))
        clients["s"].read_reply()
    replies = []
    for who, frames, *argv in TWO_CLIENT_SCRIPT:
        if argv:
            clients[who].send(encode_command(*argv))
        replies += [read_raw_reply(clients[who], 1) for _ in range(frames)]
    for client in clients.values():
        client.close()
    return replies


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_two_clients_get_the_bytes_redis_sends(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool
) -> None:
    redis.Redis(port=kv_server.port).flushall()
    redis.Redis(port=real_redis.port).flushall()
    ours = run_two_clients(kv_server.port, resp3)
    theirs = run_two_clients(real_redis.port, resp3)
    steps = [step for step in TWO_CLIENT_SCRIPT for _ in range(step[1])]
    mismatches = [
        f"{' '.join(step[2:]) or '(read)'}\n    redis:    {want!r}\n    kvserver: {got!r}"
        for step, want, got in zip(steps, theirs, ours, strict=True)
        if want != got
    ]
    assert not mismatches, "\n".join(mismatches)


# --- redis-py ---------------------------------------------------------------------------------------


def open_pubsub(r: redis.Redis) -> Any:
    """redis-py's PubSub (its methods are untyped)."""
    return r.pubsub()  # type: ignore[no-untyped-call]


def next_message(pubsub: Any, timeout: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return dict(message)
    raise AssertionError("no message")


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_redis_py_pubsub(server: ServerProcess, protocol: int) -> None:
    r = redis.Redis(port=server.port, protocol=protocol)
    pubsub = open_pubsub(r)
    pubsub.subscribe("chan")
    pubsub.psubscribe("pat.*")
    wait_for(lambda: r.pubsub_numsub("chan") == [(b"chan", 1)] and r.pubsub_numpat() == 1)
    payload = bytes(range(256)) * 4
    assert r.publish("chan", payload) == 1
    assert next_message(pubsub) == {"type": "message", "pattern": None, "channel": b"chan", "data": payload}
    assert r.publish("pat.x", "p") == 1
    assert next_message(pubsub) == {"type": "pmessage", "pattern": b"pat.*", "channel": b"pat.x", "data": b"p"}
    pubsub.unsubscribe("chan")
    pubsub.punsubscribe()
    wait_for(lambda: r.pubsub_numsub("chan") == [(b"chan", 0)] and r.pubsub_numpat() == 0)
    pubsub.close()
    r.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.slow
def test_redis_py_health_check_in_subscribed_mode(server: ServerProcess, protocol: int) -> None:
    """redis-py pings a subscribed connection and expects ``pong`` and its argument back (RESP2) or PONG."""
    r = redis.Redis(port=server.port, protocol=protocol, health_check_interval=1)
    pubsub = open_pubsub(r)
    pubsub.subscribe("hc")
    assert next(iter(pubsub.listen()))["type"] == "subscribe"
    pubsub.check_health()  # sends PING redis-py-health-check and reads the answer as a message
    time.sleep(1.1)  # let the health-check interval pass (redis-py's own clock; nothing to poll)
    assert r.publish("hc", "after") == 1
    assert next_message(pubsub)["data"] == b"after"  # the health-check reply was consumed correctly
    pubsub.close()
    r.close()


def test_redis_py_run_in_thread_handlers(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port)
    got: list[bytes] = []
    pubsub = open_pubsub(r)
    pubsub.subscribe(**{"jobs": lambda message: got.append(message["data"])})
    worker = pubsub.run_in_thread(sleep_time=0.01)
    try:
        wait_for(lambda: r.pubsub_numsub("jobs") == [(b"jobs", 1)])
        for i in range(20):
            r.publish("jobs", str(i))
        wait_for(lambda: len(got) == 20)
        assert got == [str(i).encode() for i in range(20)]  # in order
    finally:
        worker.stop()
        worker.join(5)
        r.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_redis_asyncio_pubsub(server: ServerProcess, protocol: int) -> None:
    async def scenario() -> list[object]:
        r = aioredis.Redis(port=server.port, protocol=protocol)
        pubsub: Any = r.pubsub()
        await pubsub.subscribe("a", "b")
        for _ in range(2):
            confirmation = await pubsub.get_message(timeout=5)
            assert confirmation is not None
            assert confirmation["type"] == "subscribe"
        received: list[object] = []
        for channel in ("a", "b", "a"):
            assert await r.publish(channel, channel.upper()) == 1
        while len(received) < 3:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None
            received.append((message["channel"], message["data"]))
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await r.aclose()
        return received

    assert asyncio.run(scenario()) == [(b"a", b"A"), (b"b", b"B"), (b"a", b"A")]


def test_a_disconnect_drops_every_subscription(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port)
    raw = RawClient(server.port)
    raw.send(encode_command("SUBSCRIBE", "gone"))
    raw.send(encode_command("PSUBSCRIBE", "gone*"))
    wait_for(lambda: r.pubsub_numsub("gone") == [(b"gone", 1)] and r.pubsub_numpat() == 1)
    raw.close()
    wait_for(lambda: r.pubsub_numsub("gone") == [(b"gone", 0)] and r.pubsub_numpat() == 0)
    assert r.publish("gone", "x") == 0
    r.close()


# --- MONITOR ----------------------------------------------------------------------------------------

MONITOR_LINE = re.compile(r"^(\d+\.\d{6}) \[0 (127\.0\.0\.1:\d+|unix:\S+)\] (.*)$")


def monitor_lines(port: int, commands: list[tuple[str, ...]], count: int) -> list[str]:
    """Run ``redis-cli monitor``, send ``commands`` from another connection, read ``count`` lines."""
    cli = subprocess.Popen(
        [require_tool("redis-cli"), "-p", str(port), "monitor"], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert cli.stdout is not None
        assert cli.stdout.readline().strip() == "OK"
        client = RawClient(port)
        for command in commands:
            client.send(encode_command(*command))
            client.read_reply()
        client.close()
        lines = []
        for _ in range(count):
            match = MONITOR_LINE.match(cli.stdout.readline().rstrip("\n"))
            assert match is not None
            assert abs(float(match.group(1)) - time.time()) < 60
            lines.append(match.group(3))
        return lines
    finally:
        cli.kill()
        cli.wait()
        assert cli.stdout is not None
        cli.stdout.close()


MONITORED = [
    ("SET", "k", 'say "hi"\n\x01'),
    ("AUTH", "nobody", "secret"),
    ("HELLO", "2", "AUTH", "default", "pw"),
    ("CONFIG", "GET", "maxmemory"),
    ("MULTI",),
    ("INCR", "n"),
    ("EXEC",),
    ("get", "k"),
]


def test_redis_cli_monitor_shows_what_redis_shows(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    ours = monitor_lines(kv_server.port, MONITORED, 7)
    assert ours == monitor_lines(real_redis.port, MONITORED, 7)
    assert ours[0] == '"SET" "k" "say \\"hi\\"\\n\\x01"'
    assert ours[1] == '"AUTH" "(redacted)" "(redacted)"'


def test_monitor_over_the_unix_socket(spawn: Spawn, tmp_path: Path) -> None:
    path = str(tmp_path / "kv.sock")
    kv = spawn("--appendonly", "no", "--unixsocket", path)
    cli = subprocess.Popen([require_tool("redis-cli"), "-s", path, "monitor"], stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout is not None
        assert cli.stdout.readline().strip() == "OK"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(path)
            sock.sendall(encode_command("PING"))
            assert sock.recv(100) == b"+PONG\r\n"
        match = MONITOR_LINE.match(cli.stdout.readline().strip())
        assert match is not None
        assert (match.group(2), match.group(3)) == (f"unix:{path}", '"PING"')
    finally:
        cli.kill()
        cli.wait()
        assert cli.stdout is not None
        cli.stdout.close()
    assert kv.alive()


# --- ordering behind the durability barrier: the shape of Celery's result backend -----------------


@pytest.mark.slow
def test_results_published_in_multi_are_durable_before_the_subscriber_hears(spawn: Spawn, tmp_path: Path) -> None:
    """Celery's layout: tasks queued in db 0 (its broker), each result stored in db 1 and
    "ready" PUBLISHed in the same MULTI (its Redis result backend). The client, on each message,
    reads the result from another connection to db 1 and finds it. Then kill -9: every result a
    message announced is in the restarted server's db 1."""
    data_dir = tmp_path / "data"
    kv = spawn("--appendonly", "yes", "--appendfsync", "always", data_dir=data_dir)
    reader = redis.Redis(port=kv.port, db=1)
    pubsub = open_pubsub(redis.Redis(port=kv.port, db=1))
    pubsub.psubscribe("celery-task-meta-*")
    assert next(iter(pubsub.listen()))["type"] == "psubscribe"
    stop = threading.Event()

    def producer() -> None:
        broker = redis.Redis(port=kv.port, db=0)
        task = 0
        while not stop.is_set():
            try:
                if broker.llen("celery") < 50:
                    broker.lpush("celery", str(task))
                    task += 1
            except redis.ConnectionError:
                return

    def worker() -> None:
        broker = redis.Redis(port=kv.port, db=0)
        backend = redis.Redis(port=kv.port, db=1)
        while not stop.is_set():
            try:
                popped = cast("tuple[bytes, bytes] | None", broker.brpop(["celery"], 1))
                if popped is None:
                    continue
                task = popped[1].decode()
                key = f"celery-task-meta-{task}"
                result = json.dumps({"status": "SUCCESS", "result": task, "task_id": task})
                pipe = backend.pipeline(transaction=True)
                pipe.set(key, result, ex=86400)
                pipe.publish(key, result)
                pipe.execute()
            except redis.ConnectionError:
                return

    threads = [threading.Thread(target=producer), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    announced: list[str] = []
    try:
        while len(announced) < 200:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None
            key = message["channel"].decode()
            assert reader.get(key) == message["data"]  # the result is there when the message is
            announced.append(key)
        for _ in range(100):  # the last messages before the crash
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None
            announced.append(message["channel"].decode())
        kv.kill9()
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    restarted = spawn("--appendonly", "yes", "--appendfsync", "always", data_dir=data_dir)
    after = redis.Redis(port=restarted.port, db=1)
    missing = [key for key in announced if after.get(key) is None]
    assert not missing, f"announced but lost in the crash: {missing[:5]}"
    assert not redis.Redis(port=restarted.port, db=0).keys("celery-task-meta-*")  # results stay in db 1


# --- client-output-buffer-limit ---------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


def stalled_subscriber(port: int, channel: str) -> socket.socket:
    """A subscriber that never reads, with a small receive buffer (the server's output piles up)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(encode_command("SUBSCRIBE", channel))
    return sock


def flood(port: int, channel: str, payload: bytes, until: Callable[[], bool], limit: int, pause: float = 0.0) -> int:
    """PUBLISH ``payload`` in pipelined batches of 20 until ``until()`` or ``limit`` bytes, ``pause``
    seconds apart (a steady trickle); the bytes published."""
    from kvserver.reply_parser import NEED_DATA, ReplyParser

    pub = RawClient(port)
    batch = encode_command("PUBLISH", channel, payload) * 20
    parser = ReplyParser()
    sent = 0
    while sent < limit and not until():
        pub.send(batch)
        replies = 0
        while replies < 20:
            if parser.next() is NEED_DATA:
                parser.feed(pub.sock.recv(65536))
            else:
                replies += 1
        sent += 20 * len(payload)
        time.sleep(pause)
    pub.close()
    return sent


@pytest.fixture(params=["kvserver", "redis"])
def limited(request: pytest.FixtureRequest, spawn: Spawn, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose pubsub class is limited to 2mb hard, 1mb soft for 1 s."""
    args = ("--client-output-buffer-limit", "pubsub 2mb 1mb 1")
    if request.param == "kvserver":
        yield spawn("--appendonly", "no", *args)
        return
    real = redis_server_process(tmp_path / "redis", *args).start()
    yield real
    real.terminate()


@pytest.mark.slow
def test_a_subscriber_that_never_reads_is_dropped_and_memory_stays_bounded(limited: ServerProcess) -> None:
    r = redis.Redis(port=limited.port)
    shown = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    assert "pubsub 2097152 1048576 1" in str(shown)
    sub = stalled_subscriber(limited.port, "firehose")
    other = redis.Redis(port=limited.port)
    other.set("k", "v")
    wait_for(lambda: r.pubsub_numsub("firehose") == [(b"firehose", 1)])
    before = rss_kb(limited.pid)
    payload = b"x" * 100_000
    sent = flood(limited.port, "firehose", payload, lambda: r.pubsub_numsub("firehose")[0][1] == 0, 200_000_000)
    wait_for(lambda: r.pubsub_numsub("firehose") == [(b"firehose", 0)])
    assert sent < 100_000_000  # dropped well before 100 MB were published to it
    assert rss_kb(limited.pid) - before < 50_000  # not the published volume: bounded by the limit
    assert other.get("k") == b"v"  # other clients are unaffected
    sub.close()
    wait_for(lambda: "scheduled to be closed ASAP for overcoming of output buffer limits" in limited.log())


@pytest.mark.slow
def test_the_soft_limit_drops_a_subscriber_over_it_for_longer_than_its_seconds(spawn: Spawn) -> None:
    kv = spawn("--appendonly", "no")
    r = redis.Redis(port=kv.port)
    r.config_set("client-output-buffer-limit", "pubsub 0 256kb 1")
    sub = stalled_subscriber(kv.port, "slow")
    wait_for(lambda: r.pubsub_numsub("slow") == [(b"slow", 1)])
    started = time.monotonic()
    # a trickle of 4 MB/s: over 256 kB from the second batch on, for as long as it takes (< 10 s)
    flood(kv.port, "slow", b"y" * 10_000, lambda: r.pubsub_numsub("slow")[0][1] == 0, 40_000_000, pause=0.05)
    assert r.pubsub_numsub("slow") == [(b"slow", 0)]
    assert time.monotonic() - started >= 1.0  # not before its soft seconds
    sub.close()


# --- node: ioredis ----------------------------------------------------------------------------------

NODE_PUBSUB = """
import Redis from "ioredis";
const url = process.env.SERVER_URL;
const sub = new Redis(url);
const pub = new Redis(url);
const got = [];
sub.on("message", (channel, message) => got.push(["message", channel, message]));
sub.on("pmessageBuffer", (pattern, channel, message) =>
  got.push(["pmessage", pattern.toString(), channel.toString(), message.toString("hex")]));
await sub.subscribe("room:1", "room:2");
await sub.psubscribe("room:*");
const counts = [await pub.publish("room:1", "hello"), await pub.publish("room:2", Buffer.from([0, 255, 10]))];
counts.push(await pub.publish("elsewhere", "x"));
for (let i = 0; got.length < 4 && i < 1000; i++) await new Promise((resolve) => setTimeout(resolve, 10));
await sub.unsubscribe("room:1", "room:2");
await sub.punsubscribe("room:*");
const numpat = await pub.pubsub("NUMPAT");
console.log(JSON.stringify({ counts, got, numpat }));
sub.disconnect();
pub.disconnect();
"""


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    link_ioredis(tmp_path)
    (tmp_path / "pubsub.mjs").write_text(NODE_PUBSUB)
    return tmp_path


def run_node(node_dir: Path, port: int) -> object:
    done = subprocess.run(
        [require_tool("node"), "pubsub.mjs"],
        cwd=node_dir,
        env={**os.environ, "SERVER_URL": f"redis://127.0.0.1:{port}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def test_ioredis_pubsub_through_node(node_dir: Path, kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    ours = run_node(node_dir, kv_server.port)
    assert ours == {
        "counts": [2, 2, 0],
        "got": [
            ["message", "room:1", "hello"],
            ["pmessage", "room:*", "room:1", "68656c6c6f"],
            ["message", "room:2", "\x00\ufffd\n"],
            ["pmessage", "room:*", "room:2", "00ff0a"],
        ],
        "numpat": 0,
    }
    assert ours == run_node(node_dir, real_redis.port)
