"""A command fuzzer against a real kvserver: well-formed frames of every command, hostile arguments.

Hypothesis draws batches of commands from kvserver's own command table with arguments chosen to
hurt (int64 edges, 5000-digit numbers, floats that overflow, CR/LF, globs that backtrack, huge
counts and offsets). Every frame is well formed, so the server must answer each one, never drop
the connection, never log a traceback, and never disturb a canary client: its key keeps its
value and its PINGs keep coming back quickly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvserver.commands import TABLE
from tests.support import Pinger, ServerProcess, call, kvserver_process

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fuzz")]  # its module-scoped server

# Commands that end or change the connection's contract on purpose (close it, block it, stream
# to it, stop the server), or that would wipe the canary: not what this fuzzer is about.
# fmt: off
EXCLUDED = frozenset(
    {
        "shutdown", "quit", "reset", "client", "monitor", "subscribe", "psubscribe", "ssubscribe",
        "unsubscribe", "punsubscribe", "sunsubscribe",  # RESP3: their reply is a push, not a reply
        "blpop", "brpop", "blmove", "brpoplpush", "bzpopmin", "bzpopmax", "blmpop", "bzmpop",
        "flushall", "flushdb", "swapdb", "auth", "hello", "multi", "exec", "discard", "watch",
        "debug", "wait", "failover", "replicaof", "slaveof", "sync", "psync", "xread", "xreadgroup",
        "config", "bgrewriteaof", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
        "function", "script", "select", "move", "copy", "rename", "renamenx", "migrate", "restore",
        "slowlog",  # the assertion reads it
        "pfselftest",  # an admin self-test that runs ~1 s by design (Redis's takes seconds too)
    }
)
# fmt: on
COMMANDS = sorted(name for name in TABLE if name not in EXCLUDED)
KEYS = [b"k1", b"k2", b"k3", b"list", b"set", b"zset", b"hash"]
CANARY = b"canary"
SLOW_US = 500_000  # a command slower than this is in the slow log; one over 1 s fails the test
# fmt: off
NUMBERS = [
    b"0", b"1", b"-1", b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
    b"18446744073709551616", b"9" * 5000, b"-" + b"9" * 5000, b"1e1000000", b"1e-1000000", b"0x1p3",
    b"inf", b"-inf", b"+inf", b"nan", b"1.5", b"-0", b"3.0e400", b"-100000", b"536870912", b"4294967296",
]
# fmt: on
# fmt: off
WORDS = [
    b"", b"x\r\n+OK\r\n:666", b"\r\n", b"\x00\xff", b"a*a*a*a*a*a*a*a*a*a*a*a*b", b"*", b"[", b"\\", b"[^a-",
    b"?" * 200, b"EX", b"PX", b"NX", b"XX", b"KEEPTTL", b"GET", b"COUNT", b"MATCH", b"TYPE", b"WITHSCORES",
    b"LIMIT", b"BYSCORE", b"BYLEX", b"REV", b"LEFT", b"RIGHT", b"(1", b"[a", b"-", b"+", b"HELP", b"ENCODING",
    b"FREQ", b"IDLETIME", b"USAGE", b"SAMPLES", b"RANK", b"MAXLEN", b"WITHVALUES", b"ASYNC",
]
# fmt: on
# numbers twice: counts, offsets, cursors and increments are where parsers break
ARG = st.one_of(
    st.sampled_from(KEYS),
    st.sampled_from(NUMBERS),
    st.sampled_from(NUMBERS),
    st.sampled_from(WORDS),
    st.binary(max_size=12),
)


@st.composite
def commands(draw: st.DrawFn) -> list[bytes]:
    """One well-formed command: a name from the table, usually its arity, keys where its keys go."""
    name = draw(st.sampled_from(COMMANDS))
    spec = TABLE[name]
    if spec.subcommands:
        sub = draw(st.sampled_from(sorted(spec.subcommands)))
        spec, prefix = spec.subcommands[sub], [name.encode(), sub]
    else:
        prefix = [name.encode()]
    arity = spec.arity
    if draw(st.integers(0, 9)):
        count = arity if arity > 0 else -arity + draw(st.integers(0, 4))
    else:
        count = len(prefix) + draw(st.integers(0, 4))
    argv = list(prefix)
    for position in range(len(prefix), count):
        is_key = spec.first_key > 0 and position >= spec.first_key and (position - spec.first_key) % spec.step == 0
        argv.append(draw(st.sampled_from(KEYS)) if is_key and draw(st.integers(0, 5)) else draw(ARG))
    return argv


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = kvserver_process(tmp_path_factory.mktemp("fuzz"), "--appendfsync", "everysec").start()
    yield server
    server.terminate()


def test_fuzzed_commands_never_drop_a_connection(fuzz_server: ServerProcess) -> None:
    canary = redis.Redis(port=fuzz_server.port)
    canary.set(CANARY, b"alive")
    canary.config_set("slowlog-log-slower-than", SLOW_US)
    canary.config_set("slowlog-max-len", 1024)
    pinger = Pinger(fuzz_server.port, interval=0.005)
    client = redis.Redis(port=fuzz_server.port, socket_timeout=20)
    conn = client.connection_pool.get_connection()
    sent = 0

    @settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(commands(), min_size=1, max_size=25))
    def batch(frames: list[list[bytes]]) -> None:
        nonlocal sent
        for argv in frames:
            call(conn.send_command, *argv)
        for argv in frames:
            try:
                conn.read_response()
            except redis.ResponseError:
                pass
            except redis.ConnectionError as exc:  # pragma: no cover - the failure being hunted
                raise AssertionError(f"connection dropped after {[a[:40] for a in argv[:4]]!r}") from exc
        sent += len(frames)

    try:
        batch()
    finally:
        client.connection_pool.release(conn)
        client.close()
    worst = pinger.finish()
    assert canary.get(CANARY) == b"alive"
    slowest = canary.slowlog_get(1024)
    canary.close()
    print(f"\nfuzz: {sent} commands, canary worst PING {worst * 1000:.1f} ms")
    assert fuzz_server.alive()
    assert "Traceback" not in fuzz_server.log()
    stalls = [(entry["duration"] / 1e6, entry["command"][:60]) for entry in slowest if entry["duration"] >= 1_000_000]
    assert not stalls, f"fuzzed commands that took over a second: {stalls}"
    assert worst < 10.0, f"a fuzzed batch stalled other clients for {worst:.2f} s"
