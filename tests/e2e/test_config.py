"""CONFIG SET validation and requirepass, against kvserver and redis-server 7.0 side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.config import PARAMETERS
from tests.support import (
    RawClient,
    ServerProcess,
    assert_same_replies,
    command,
    kvserver_process,
    low_file_limit,
    redis_server_process,
    request,
    run_script,
)

Spawn = Callable[..., ServerProcess]

NOT_NUMBERS = ["abc", "", "1.5", "0x10", " 5", "5 ", "+5", "1k", "1gb", "-5mb", "yes", "99999999999999999999999"]
INTEGERS = ["-1", "0", "3000000000", "9223372036854775807", "9223372036854775808", "0" * 5000 + "1", "1" * 5000]
MEMORY = ["1tb", "1.5mb", "5 mb", "kb", "-1", "0", "1048575", "99999999999999999999999", "1" * 200 + "mb"]
WORDS = ["", "maybe", "ALWAYS2", "y", "1"]

# every parameter kvserver has, with values each one must refuse (or accept) exactly as Redis does;
# requirepass (anything goes) and bind (Redis tries to listen) are covered elsewhere
CASES: dict[str, list[str]] = {
    "port": [*NOT_NUMBERS, "-1", "65536", "9223372036854775808"],
    "dir": ["/nonexistent", "."],
    "appendfilename": ["x.aof"],
    "appendonly": [*WORDS, "0", "true"],
    "appendfsync": [*WORDS, "sometimes"],
    # (not a huge valid maxclients: Redis then lowers its fd limit step by step, for minutes)
    "maxclients": [*NOT_NUMBERS, "-1", "0", "4294967296", "9223372036854775808", "1" * 5000],
    "loglevel": [*WORDS, "trace"],
    "logfile": ["x.log"],
    "proto-max-bulk-len": [*MEMORY, "0", "1mb", "512MB"],
    "hz": NOT_NUMBERS + INTEGERS[:1] + INTEGERS[2:],
    "timeout": NOT_NUMBERS + INTEGERS[:1] + INTEGERS[2:],
    "auto-aof-rewrite-percentage": NOT_NUMBERS + INTEGERS[:1] + INTEGERS[2:],
    "auto-aof-rewrite-min-size": MEMORY,
    "save": ["abc", "100", "100 x", "-1 1", "0 1", "1 -1", "3600 1 300"],
    "databases": ["16"],
    "maxmemory": [*MEMORY[:3], "-1", "yes", "0x10", " 5"],
    "maxmemory-policy": [*WORDS, "allkeys", "lru"],
    "maxmemory-samples": NOT_NUMBERS + INTEGERS,
    "client-query-buffer-limit": [*MEMORY, "1mb", "0"],
    "protected-mode": [*WORDS, "0", "true"],
    "notify-keyspace-events": ["xyz", "KEA ", "KEAq", "a", "KEA", ""],
    "daemonize": [*WORDS, "yes"],
    "pidfile": ["x.pid"],
    "unixsocket": ["/tmp/x.sock"],
    "unixsocketperm": ["abc", "777", "1000", "-1", "8"],
    "client-output-buffer-limit": [
        "pubsub 1mb 1mb",
        "master 1 1 1",
        "pubsub 1x 1 1",
        "pubsub 1 -1 1",
        "pubsub 1 1 -1",
        "pubsub 1 1 1 normal",
        "PUBSUB 32mb 8mb 60 replica 1gb 1 2x",
        "normal 1 2 3",
        "",
    ],
    # the slow log and the latency monitor
    "slowlog-log-slower-than": [*NOT_NUMBERS, *INTEGERS, "-2", "0", "10000"],
    "slowlog-max-len": [*NOT_NUMBERS, *INTEGERS, "128"],
    "latency-monitor-threshold": [*NOT_NUMBERS, *INTEGERS, "0"],
    "busy-reply-threshold": [*NOT_NUMBERS, *INTEGERS, "5000"],
    "lua-time-limit": [*NOT_NUMBERS, *INTEGERS, "5000"],
    # Redis's encoding and tuning parameters: stored and shown, no effect in kvserver
    **{
        name: [*NOT_NUMBERS, *INTEGERS[:4], default]
        for name, default in [
            ("hash-max-listpack-entries", "512"),
            ("hash-max-ziplist-entries", "512"),
            ("list-max-listpack-size", "-2"),
            ("list-max-ziplist-size", "-2"),
            ("list-compress-depth", "0"),
            ("set-max-intset-entries", "512"),
            ("zset-max-listpack-entries", "128"),
            ("zset-max-ziplist-entries", "128"),
            ("stream-node-max-entries", "100"),
            ("active-defrag-cycle-min", "1"),
            ("active-defrag-cycle-max", "25"),
            ("active-defrag-threshold-lower", "10"),
            ("active-defrag-threshold-upper", "100"),
            ("active-defrag-max-scan-fields", "1000"),
        ]
    },
    **{name: [*MEMORY, "64"] for name in ("hash-max-listpack-value", "hash-max-ziplist-value")},
    **{name: [*MEMORY, "64"] for name in ("zset-max-listpack-value", "zset-max-ziplist-value")},
    "stream-node-max-bytes": [*MEMORY, "4096"],
    "hll-sparse-max-bytes": [*MEMORY, "3000"],
    "active-defrag-ignore-bytes": [*MEMORY, "104857600"],
    **{
        name: [*WORDS, "yes", "no"]
        for name in (
            "lazyfree-lazy-eviction",
            "lazyfree-lazy-expire",
            "lazyfree-lazy-server-del",
            "lazyfree-lazy-user-del",
            "lazyfree-lazy-user-flush",
        )
    },
    "activedefrag": [*WORDS, "no"],
    "repl-backlog-size": [*MEMORY, "1048576"],
    "maxmemory-clients": [*MEMORY, "100%", "101%", "0%", "-1%", "%", "5.5%", "5 %", "1" * 30 + "%", "0"],
    "key-load-delay": [*NOT_NUMBERS, *INTEGERS, "-2147483648", "-2147483649", "0"],
}


def test_the_table_covers_every_parameter() -> None:
    assert set(CASES) | {"requirepass", "bind"} == {p.name for p in PARAMETERS}


def config_set_script() -> list[tuple[str, ...]]:
    script: list[tuple[str, ...]] = [
        ("CONFIG", "SET", name, value) for name, values in CASES.items() for value in values
    ]
    script += [
        ("CONFIG", "SET", "hz"),
        ("CONFIG", "SET", "hz", "10", "timeout"),  # odd: a syntax error, not an arity error
        ("CONFIG", "SET", "HZ", "10", "Nope", "1"),  # the unknown name as typed
        ("CONFIG", "SET", "hz", "10", "HZ", "20"),
        ("CONFIG", "SET", "timeout", "x", "logfile", "1"),  # names are checked before values
        ("CONFIG", "SET", "timeout", "x", "hz", "y"),
        ("CONFIG", "SET", "hz", "20", "timeout", "x"),  # nothing is changed
        ("CONFIG", "GET", "hz"),
    ]
    script += multi_set_script()
    # values both accept, and what CONFIG GET then shows
    for name, value in [
        ("hz", "1000"),  # capped to 500
        ("hz", "0"),  # raised to 1
        ("maxmemory", "99999999999999999999999"),  # saturates, as Redis's memtoull does
        ("maxmemory", "20000000000000000000kb"),  # and the product wraps
        ("maxmemory", "1KB"),
        ("maxmemory", ""),
        ("proto-max-bulk-len", "1mb"),
        ("appendfsync", "EVERYSEC"),
        ("maxmemory-policy", "ALLKEYS-RANDOM"),
        ("maxmemory-samples", "10"),
        ("save", "3600 1 300 100"),
        ("client-output-buffer-limit", "pubsub 1mb 512kb 10"),  # only the class named changes
        ("client-output-buffer-limit", "slave 0 0 0 normal 1 2 3abc"),
        ("save", ""),
        ("notify-keyspace-events", "KEAn"),  # shown as "AKE", as Redis shows it
        ("notify-keyspace-events", "xg$Km"),
        ("notify-keyspace-events", ""),
        ("timeout", "0"),
        ("hash-max-ziplist-entries", "16"),  # an alias sets the parameter: both names show it
        ("hash-max-listpack-entries", "512"),
        ("list-max-ziplist-size", "-1"),
        ("list-max-listpack-size", "-2"),
        ("slowlog-max-len", "128"),
    ]:
        script += [("CONFIG", "SET", name, value), ("CONFIG", "GET", name)]
    script += [("CONFIG", "SET", "hash-max-ziplist-entries", "16", "hash-max-listpack-value", "1kb")]
    # one name a GET: Redis lists several matches in its dict's order
    script += [("CONFIG", "GET", name) for name in CASES if "max-" in name or "lazy" in name or "defrag" in name]
    script += [
        ("CONFIG", "GET", name) for name in ("slowlog-log-slower-than", "slowlog-max-len", "list-compress-depth")
    ]
    return script


def multi_set_script() -> list[tuple[str, ...]]:
    """CONFIG SET of several parameters: which error wins, and that a refused one changes nothing."""
    names = ("maxmemory", "timeout", "maxmemory-clients", "hash-max-listpack-entries")
    get = [("CONFIG", "GET", name) for name in names]  # one name a GET: Redis answers in its dict's order
    return [
        ("CONFIG", "SET", "maxmemory", "10000002"),
        *get,
        # the first bad name wins over any bad value, and the unknown over a later duplicate
        ("CONFIG", "SET", "maxmemory", "x", "nope", "1", "maxmemory", "2"),
        ("CONFIG", "SET", "maxmemory", "1", "maxmemory", "2", "nope", "1"),
        ("CONFIG", "SET", "daemonize", "no", "nope", "1"),
        ("CONFIG", "SET", "nope", "1", "daemonize", "no"),
        ("CONFIG", "SET", "timeout", "1", "io-threads", "1"),  # one Redis can't change either
        ("CONFIG", "SET", "replicaof", "no one"),
        ("CONFIG", "SET", "Timeout", "1", "TIMEOUT", "2"),  # a duplicate in another case, named as typed
        # an alias and its main name are two configs for Redis 7.0: both are set, the last wins
        ("CONFIG", "SET", "hash-max-ziplist-entries", "16", "hash-max-listpack-entries", "32"),
        *get,
        # the first invalid value is named as the parameter is named (an alias as the alias)
        ("CONFIG", "SET", "maxmemory", "10000001", "maxmemory-clients", "200%", "client-query-buffer-limit", "x"),
        ("CONFIG", "SET", "TIMEOUT", "5", "HASH-MAX-ZIPLIST-ENTRIES", "x"),
        *get,  # nothing changed
        ("CONFIG", "SET", "maxmemory", "10000001", "timeout", "7", "maxmemory-clients", "5%", "save", "3000 5"),
        *get,
        # a parameter set to the value it has is no change: Redis's immutable-at-run-time-in-kvserver too
        ("CONFIG", "SET", "appendonly", "no", "timeout", "0", "maxmemory", "0"),
        ("CONFIG", "SET", "maxmemory-clients", "0", "hash-max-listpack-entries", "512", "save", ""),
        *get,
        # several names and patterns at once: each parameter once, a name answered as typed
        ("CONFIG", "GET", "maxmemory", "MAXMEMORY", "maxmemor?"),
        ("CONFIG", "GET", "Slaveof", "nope"),
        ("CONFIG", "GET", "key-load-delay"),  # hidden: only by its exact name
        ("CONFIG", "GET", "key-load-*"),
        *[("CONFIG", "GET", name) for name in ("io-threads", "tcp-backlog", "supervised", "cluster-enabled")],
    ]


@pytest.mark.external
def test_config_get_of_several_names_and_patterns_like_redis(spawn: Spawn, real_redis: ServerProcess) -> None:
    kv = spawn("--appendonly", "no")
    for port in (kv.port, real_redis.port):
        r = redis.Redis(port=port, protocol=2, decode_responses=True)
        # as the introspection unit asks it: no duplicates, a name and its alias, every match
        reply: list[str] = command(r, "CONFIG", "GET", "maxmemory", "maxmemory-[pcs]*", "bind", "*of", "HZ", "hz")
        assert len(reply) == 2 * len(set(reply[::2]))
        assert dict(zip(reply[::2], reply[1::2], strict=True)) == {
            "maxmemory": "0",
            "maxmemory-policy": "noeviction",
            "maxmemory-samples": "5",
            "maxmemory-clients": "0",
            "bind": r.config_get("bind")["bind"],
            "replicaof": "",
            "slaveof": "",
            "HZ": "10",
        }
        assert "key-load-delay" not in r.config_get("*")
        r.close()


@pytest.mark.external
def test_config_set_validates_every_parameter_like_redis(spawn: Spawn, tmp_path: Path) -> None:
    kv = spawn("--appendonly", "no")
    real = redis_server_process(tmp_path / "redis").start()
    try:
        assert_same_replies(kv, real, False, config_set_script())
    finally:
        real.terminate()


# --- requirepass -----------------------------------------------------------------------------------


def requirepass_script(port: int) -> list[bytes]:
    admin, early = RawClient(port), RawClient(port)
    request(early, "PING")  # connected (accepted) while there is no password
    replies = [request(admin, "CONFIG", "SET", "requirepass", b"\xff\xfe pass")]  # not UTF-8
    late = RawClient(port)
    replies += [request(late, "GET", "x"), request(late, "AUTH", b"\xff\xfe pass"), request(late, "GET", "x")]
    replies += [request(admin, "AUTH", b"\xff\xfe pass"), request(admin, "PING")]
    fresh = RawClient(port)
    replies += [request(fresh, "GET", "x"), request(admin, "CONFIG", "SET", "requirepass", "")]
    replies += [request(fresh, "GET", "x"), request(fresh, "HELLO", "2"), request(early, "GET", "x")]
    replies += [request(fresh, "SET", "x", "v" * 100_000), request(fresh, "DEL", "x")]  # no unauthenticated limits
    replies += [request(admin, "CONFIG", "SET", "requirepass", "again")]
    replies += [request(fresh, "GET", "x"), request(late, "GET", "x"), request(early, "GET", "x")]
    replies += [request(admin, "CONFIG", "SET", "requirepass", "")]
    for client in (admin, early, late, fresh):
        client.close()
    return replies


@pytest.mark.external
def test_requirepass_takes_any_bytes_and_empty_lets_clients_in(spawn: Spawn, real_redis: ServerProcess) -> None:
    kv = spawn("--appendonly", "no")
    ours = requirepass_script(kv.port)
    assert ours[2] == b"+OK\r\n"  # AUTH with the non-UTF-8 password works
    assert ours[8] == b"$-1\r\n"  # an unauthenticated client is let in once the password is ""
    assert ours == requirepass_script(real_redis.port)
    r = redis.Redis(port=kv.port)
    assert r.ping() is True
    r.close()


@pytest.mark.external
def test_a_failed_apply_rolls_every_parameter_back_like_redis(tmp_path: Path) -> None:
    """maxclients beyond the open-file limit passes the checks and fails when applied: the values
    set before and after it in the same CONFIG SET go back too, as in Redis."""
    script: list[tuple[str, ...]] = [
        ("CONFIG", "SET", "timeout", "5", "maxclients", "1000", "slowlog-max-len", "7"),
        *[("CONFIG", "GET", name) for name in ("timeout", "maxclients", "slowlog-max-len")],
        ("CONFIG", "SET", "timeout", "5", "maxclients", "100", "slowlog-max-len", "7"),
        *[("CONFIG", "GET", name) for name in ("timeout", "maxclients", "slowlog-max-len")],
    ]
    kv = kvserver_process(tmp_path / "kv", "--appendonly", "no")
    real = redis_server_process(tmp_path / "redis")
    for server in (kv, real):
        server.preexec_fn = low_file_limit
        server.start()
    try:
        ours = run_script(kv.port, False, script)
        assert ours[0].startswith(b"-ERR CONFIG SET failed (possibly related to argument 'maxclients')")
        assert ours[1:4] == [
            b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n",
            b"*2\r\n$10\r\nmaxclients\r\n$3\r\n224\r\n",
            b"*2\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n",
        ]
        assert ours == run_script(real.port, False, script)
    finally:
        kv.terminate()
        real.terminate()
