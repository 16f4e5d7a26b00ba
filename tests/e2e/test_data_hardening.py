"""Hostile inputs on the data commands, side by side on kvserver and redis-server.

Glob patterns that backtrack exponentially, cursors and integers of thousands of digits,
APPEND/SETRANGE on big strings, huge negative counts: each must answer what Redis answers,
and quickly (a socket timeout catches a server that blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from tests.support import ServerProcess, array, command, load_keys

SERVERS = ["kvserver", pytest.param("redis", marks=pytest.mark.external)]


@pytest.fixture(params=SERVERS)
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    server: ServerProcess = request.getfixturevalue("kv_server" if request.param == "kvserver" else "real_redis")
    conn = redis.Redis(port=server.port, protocol=2, socket_timeout=10)
    conn.flushall()
    yield conn
    conn.flushall()
    conn.close()


PATHOLOGICAL = [
    b"a*" * 12 + b"b",
    b"*a" * 30 + b"*b",
    b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    b"[a]*" * 20 + b"b",
]


def test_pathological_globs_answer_at_once(client: redis.Redis) -> None:
    """Redis's "pattern matching long nested loops" regression, through every MATCH."""
    key = b"a" * 40
    client.set(key, b"v")
    client.hset(b"h", key, b"v")
    client.sadd(b"s", key)
    client.zadd(b"z", {key: 1})
    for pattern in PATHOLOGICAL:
        assert client.keys(pattern) == []
        assert client.scan(0, match=pattern, count=1000) == (0, [])
        assert client.hscan(b"h", 0, match=pattern) == (0, {})
        assert client.sscan(b"s", 0, match=pattern) == (0, [])
        assert client.zscan(b"z", 0, match=pattern) == (0, [])
        assert client.config_get(pattern.decode()) == {}
    assert client.keys(b"a*a*a*a*a*a*a*a*a*a*a*a*a") == [key]


GLOB_KEYS = [b"hello", b"hallo", b"hxllo", b"hllo", b"h-llo", b"h]llo", b"*x", b"a\\b", b"\xff\x00", b"\x80"]
GLOB_PATTERNS = [
    b"h?llo",
    b"h*llo",
    b"h[ae]llo",
    b"h[^e]llo",
    b"h[a-e]llo",
    b"h[e-a]llo",
    b"h[a-]llo",
    b"h[]llo",
    b"h[\\]]llo",
    b"\\*x",
    b"a\\\\b",
    b"*\\",
    b"[\x00-\xff]*",
    b"[\x80-\xff]*",
    b"[^",
    b"h[",
    b"**o",
]


def test_glob_semantics_are_redis(client: redis.Redis, real_redis: ServerProcess) -> None:
    for key in GLOB_KEYS:
        client.set(key, b"v")
    got = {pattern: sorted(client.keys(pattern)) for pattern in GLOB_PATTERNS}
    reference = redis.Redis(port=real_redis.port, protocol=2)
    try:
        reference.flushall()
        for key in GLOB_KEYS:
            reference.set(key, b"v")
        want = {pattern: sorted(reference.keys(pattern)) for pattern in GLOB_PATTERNS}
        reference.flushall()
    finally:
        reference.close()
    assert got == want


def test_long_numbers_are_checked_by_length(client: redis.Redis) -> None:
    huge = b"1" * 5000
    with pytest.raises(redis.ResponseError, match=r"^invalid cursor$"):
        command(client, "SCAN", huge)
    with pytest.raises(redis.ResponseError, match=r"^invalid cursor$"):
        command(client, "SSCAN", "s", huge)
    assert command(client, "SCAN", b"0" * 5000 + b"0")[0] == 0  # strtoul: leading zeros
    assert command(client, "SCAN", "-1")[0] == 0
    assert client.sadd(b"s", huge, b"12") == 2
    assert sorted(client.smembers(b"s")) == sorted([huge, b"12"])
    assert client.object("encoding", b"s") == b"hashtable"
    assert sorted(client.sscan(b"s", 0)[1]) == sorted([huge, b"12"])
    with pytest.raises(redis.ResponseError, match="not an integer"):
        command(client, "SRANDMEMBER", "s", b"-" + huge)


@pytest.mark.slow
def test_append_and_setrange_cost_the_change_not_the_value(spawn: Callable[..., ServerProcess]) -> None:
    """16 MB from 1 KB APPENDs, then the log replayed: each step linear (was quadratic)."""
    server = spawn("--appendfsync", "no")
    conn = redis.Redis(port=server.port, protocol=2, socket_timeout=20)
    chunk = bytes(range(256)) * 4
    pipe = conn.pipeline(transaction=False)
    for _ in range(16 * 1024):
        pipe.append(b"big", chunk)
    pipe.execute()
    for i in range(0, 2000):
        pipe.setrange(b"big", i * 8000, b"%08d" % i)
    pipe.execute()
    assert conn.strlen(b"big") == 16 * 1024 * 1024
    want = bytearray(chunk * 16 * 1024)
    for i in range(0, 2000):
        want[i * 8000 : i * 8000 + 8] = b"%08d" % i
    assert conn.get(b"big") == bytes(want)
    assert conn.getrange(b"big", 8000, 8007) == b"00000001"
    conn.close()
    server.terminate()
    server.start()  # replays 18 000 records of the one key
    conn = redis.Redis(port=server.port, protocol=2, socket_timeout=20)
    assert conn.get(b"big") == bytes(want)
    assert conn.object("encoding", b"big") == b"raw"
    conn.close()


@pytest.mark.slow
def test_huge_negative_counts_build_compact_replies(client: redis.Redis, request: pytest.FixtureRequest) -> None:
    """SRANDMEMBER -3000000: the server's peak memory grows by about the reply's size."""
    server: ServerProcess = request.getfixturevalue(
        "kv_server" if request.node.callspec.params["client"] == "kvserver" else "real_redis"
    )
    client.sadd(b"s", b"a", b"b")
    client.hset(b"h", mapping={b"f": b"v"})

    def peak_kb() -> int:
        with open(f"/proc/{server.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    before = peak_kb()
    assert len(array(client.srandmember(b"s", -3_000_000))) == 3_000_000
    assert len(array(client.hrandfield(b"h", -1_000_000, withvalues=True))) == 2_000_000
    grown_mb = (peak_kb() - before) / 1024
    assert grown_mb < 150, f"peak memory grew by {grown_mb:.0f} MB for a 21 MB reply"


@pytest.mark.slow
def test_concurrent_scans_finish_while_another_client_opens_cursors(kv: redis.Redis, kv_server: ServerProcess) -> None:
    """Per-cursor snapshots livelocked: every SCAN 0 copied the keyspace and evicted others."""
    import threading

    load_keys(kv_server.port, 150_000, 2**62, key_format=b"k:%d")
    stop = threading.Event()
    results: dict[int, set[bytes]] = {}
    errors: list[BaseException] = []

    def opener() -> None:
        conn = redis.Redis(port=kv_server.port, protocol=2, socket_timeout=30)
        while not stop.is_set():
            conn.scan(0, count=10)
        conn.close()

    def full_scan(n: int) -> None:
        try:
            conn = redis.Redis(port=kv_server.port, protocol=2, socket_timeout=30)
            seen: set[bytes] = set()
            for key in conn.scan_iter(count=2000):
                seen.add(key)
            results[n] = seen
            conn.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    background = threading.Thread(target=opener)
    background.start()
    scanners = [threading.Thread(target=full_scan, args=(n,)) for n in range(4)]
    for thread in scanners:
        thread.start()
    for thread in scanners:
        thread.join(60)
    stop.set()
    background.join(30)
    assert not errors
    assert sorted(results) == list(range(4))
    assert all(len(seen) == 150_000 for seen in results.values())
