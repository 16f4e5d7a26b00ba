"""The sans-IO monitoring module: slow log, latency events, command / error counters, and the
database's timing hook that feeds them."""

from __future__ import annotations

from dataclasses import dataclass

from kvserver.config import Config
from kvserver.database import Database
from kvserver.monitoring import (
    ERRORSTATS_LIMIT,
    HISTOGRAM_BUCKETS,
    Monitoring,
    bucket_of,
    bucket_upper,
    cumulative_usec,
    percentile,
    trim_argv,
)


class Anything:
    def __eq__(self, other: object) -> bool:
        return True


_ANY = (Anything(), Anything())  # an entry's time and duration


@dataclass
class Client:
    addr: str
    name: bytes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def monitor(slower_than: int = 0, max_len: int = 128, threshold: int = 0, clock: Clock | None = None) -> Monitoring:
    return Monitoring(lambda: (slower_than, max_len, threshold), clock or Clock())


def run(m: Monitoring, name: str, usec: int, *args: bytes, flags: frozenset[str] = frozenset()) -> None:
    m.record(name, flags, usec * 1000, [name.encode(), *args], Client("1.2.3.4:5", b"nm"))


def test_slowlog_keeps_the_newest_entries_first_up_to_max_len() -> None:
    m = monitor(max_len=3)
    for j in range(5):
        run(m, "set", 10, b"k%d" % j, b"v")
    assert [e.id for e in m.slowlog] == [4, 3, 2]
    entry = m.slowlog_get(1)
    assert entry == [[4, 1000, 10, [b"set", b"k4", b"v"], b"1.2.3.4:5", b"nm"]]
    assert len(m.slowlog_get(-1)) == 3


def test_slowlog_threshold_minus_one_logs_nothing_and_zero_logs_all() -> None:
    off = monitor(slower_than=-1)
    run(off, "get", 10**6, b"k")
    assert not off.slowlog
    everything = monitor(slower_than=0)
    run(everything, "get", 0, b"k")
    assert len(everything.slowlog) == 1
    above = monitor(slower_than=100)
    run(above, "get", 99, b"k")
    run(above, "get", 100, b"k")
    assert len(above.slowlog) == 1


def test_slowlog_skips_exec_and_shrinks_on_reconfigure() -> None:
    settings = [0, 10, 0]
    m = Monitoring(lambda: (settings[0], settings[1], settings[2]), Clock())
    run(m, "exec", 10)
    assert not m.slowlog
    for _ in range(10):
        run(m, "ping", 1)
    settings[1] = 4
    m.reconfigure()
    assert len(m.slowlog) == 4


def test_trim_argv_as_redis() -> None:
    argv = [b"sadd", b"set"] + [str(j).encode() for j in range(3, 34)]  # 33 arguments
    trimmed = trim_argv(argv)
    assert len(trimmed) == 32
    assert trimmed[-1] == b"... (2 more arguments)"
    assert trimmed[-2] == b"31"
    assert trim_argv([b"set", b"A" * 129]) == [b"set", b"A" * 128 + b"... (1 more bytes)"]
    assert trim_argv([b"set", b"A" * 128]) == [b"set", b"A" * 128]


def test_passwords_are_redacted() -> None:
    m = monitor()
    for name, argv in [
        ("auth", [b"AUTH", b"default", b"secret"]),
        ("hello", [b"HELLO", b"3", b"AUTH", b"default", b"secret", b"SETNAME", b"x"]),
        ("config|set", [b"CONFIG", b"SET", b"requirepass", b"secret", b"hz", b"10"]),
    ]:
        m.record(name, frozenset(), 1000, argv, Client("", b""))
    assert [e.argv for e in m.slowlog] == [
        [b"CONFIG", b"SET", b"requirepass", b"(redacted)", b"hz", b"10"],
        [b"HELLO", b"3", b"AUTH", b"(redacted)", b"(redacted)", b"SETNAME", b"x"],
        [b"AUTH", b"(redacted)", b"(redacted)"],
    ]


def test_latency_events_one_sample_per_second_the_largest() -> None:
    clock = Clock()
    m = monitor(slower_than=-1, threshold=5, clock=clock)
    run(m, "keys", 4000, b"*")  # 4 ms: under the threshold
    assert m.latency_latest() == []
    run(m, "keys", 7000, b"*")
    run(m, "keys", 9000, b"*")
    run(m, "keys", 6000, b"*")
    run(m, "get", 20000, b"k", flags=frozenset({"fast"}))
    clock.now += 1
    run(m, "keys", 5000, b"*")
    assert m.latency_history("command") == [[1000, 9], [1001, 5]]
    assert m.latency_latest() == [[b"command", 1001, 5, 9], [b"fast-command", 1000, 20, 20]]
    assert m.latency_history("nothing") == []
    assert m.latency_reset(["fast-command", "nothing"]) == 1
    assert m.latency_reset([]) == 1
    assert m.latency_latest() == []


def test_latency_monitor_off_at_zero() -> None:
    m = monitor(slower_than=-1, threshold=0)
    run(m, "keys", 10**6)
    assert m.latency == {}


def test_commandstats_errorstats_and_reset() -> None:
    m = monitor(slower_than=-1)
    run(m, "get", 3, b"k")
    run(m, "get", 5, b"k")
    m.failed("incr")
    run(m, "incr", 1, b"k")
    m.error(b"ERR value is not an integer or out of range")
    m.rejected("get")
    m.error(b"ERR wrong number of arguments for 'get' command")
    m.error(b"WRONGTYPE Operation against a key holding the wrong kind of value")
    assert m.commandstats_lines() == [
        "cmdstat_get:calls=2,usec=8,usec_per_call=4.00,rejected_calls=1,failed_calls=0",
        "cmdstat_incr:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=1",
    ]
    assert m.errorstats_lines() == ["errorstat_ERR:count=2", "errorstat_WRONGTYPE:count=1"]
    assert [line.split(":")[0] for line in m.latencystats_lines()] == [
        "latency_percentiles_usec_get",
        "latency_percentiles_usec_incr",
    ]
    run(m, "keys", 10**6)
    m.add_latency_sample("command", 10)
    m.reset_stats()
    assert m.commandstats_lines() == m.errorstats_lines() == m.latencystats_lines() == []
    assert m.latency_latest() != []  # LATENCY RESET's business, not RESETSTAT's


def test_errorstats_is_bounded() -> None:
    m = monitor()
    for j in range(ERRORSTATS_LIMIT + 50):
        m.error(b"E%d text" % j)
    m.error(b"E0 again")
    assert len(m.errors) == ERRORSTATS_LIMIT
    assert m.errors["E0"] == 2


def test_histogram_buckets_bound_every_duration_within_a_quarter() -> None:
    for nsec in [*range(5000), 10**6 + 7, 123456789, 10**12, 2**63 - 1]:
        bucket = bucket_of(nsec)
        assert nsec <= bucket_upper(bucket) <= nsec * 1.25 + 1
        assert bucket_of(bucket_upper(bucket)) == bucket


def test_percentiles() -> None:
    histogram = [0] * HISTOGRAM_BUCKETS
    for usec in range(1, 1001):  # 1..1000 µs, once each
        histogram[bucket_of(usec * 1000)] += 1
    p50, p99, p999 = (percentile(histogram, p) / 1000 for p in (50.0, 99.0, 99.9))
    assert 500 <= p50 <= 500 * 1.25
    assert 990 <= p99 <= 990 * 1.25
    assert 999 <= p999 <= 999 * 1.25
    assert percentile([0] * HISTOGRAM_BUCKETS, 50.0) == 0
    m = monitor(slower_than=-1)
    run(m, "get", 100)
    (line,) = m.latencystats_lines()
    assert line.startswith("latency_percentiles_usec_get:p50=")
    assert ",p99=" in line
    assert ",p99.9=" in line


def test_database_hook_counts_calls_failures_and_rejections() -> None:
    db = Database(Config(slowlog_log_slower_than=0))
    client = db.clients.new("1.2.3.4:5")
    db.execute(client, [b"SET", b"k", b"v"])
    db.execute(client, [b"INCR", b"k"])  # fails: not an integer
    db.execute(client, [b"GET"])  # rejected: arity
    db.execute(client, [b"CONFIG", b"GET"])  # rejected: the subcommand's arity
    db.execute(client, [b"NOSUCH"])  # unknown: only errorstats
    db.execute(client, [b"CONFIG", b"NOSUCH"])
    stats = db.monitoring.commands
    assert (stats["set"].calls, stats["incr"].failed_calls) == (1, 1)
    assert (stats["get"].rejected_calls, stats["get"].calls) == (1, 0)
    assert stats["config|get"].rejected_calls == 1
    assert db.monitoring.errors == {"ERR": 5}
    assert sum(db.monitoring.errors.values()) == db.stats.total_error_replies
    assert [e.argv for e in db.monitoring.slowlog] == [[b"INCR", b"k"], [b"SET", b"k", b"v"]]


def test_database_execabort_and_multi_counts() -> None:
    db = Database()
    client = db.clients.new()
    db.execute(client, [b"MULTI"])
    db.execute(client, [b"GET"])  # rejected: marks the transaction
    db.execute(client, [b"EXEC"])
    assert db.monitoring.errors == {"ERR": 1, "EXECABORT": 1}
    assert db.monitoring.commands["exec"].failed_calls == 1  # as Redis: EXEC ran and answered EXECABORT


def test_config_set_reconfigures_the_slow_log() -> None:
    db = Database()
    client = db.clients.new()
    assert db.execute(client, [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0", b"slowlog-max-len", b"2"]) == b"OK"
    for _ in range(5):
        db.execute(client, [b"PING"])
    assert db.execute(client, [b"SLOWLOG", b"LEN"]) == 2
    db.execute(client, [b"SLOWLOG", b"RESET"])
    # ids go on across a reset; SLOWLOG RESET itself is then logged, as in Redis
    assert db.execute(client, [b"SLOWLOG", b"GET"]) == [[7, *_ANY, [b"SLOWLOG", b"RESET"], b"", b""]]


def test_latency_histogram_per_command_and_container() -> None:
    db = Database()
    client = db.clients.new()
    for argv in ([b"SET", b"a", b"b"], [b"SET", b"c", b"d"], [b"CLIENT", b"ID"], [b"GET", b"a"]):
        db.execute(client, argv)
    reply = db.execute(client, [b"LATENCY", b"HISTOGRAM", b"set", b"client", b"nosuch", b"zadd"])
    assert isinstance(reply, dict)
    assert list(reply) == [b"set", b"client|id"]  # asked for, and called at least once
    assert reply[b"set"][b"calls"] == 2
    buckets = reply[b"set"][b"histogram_usec"]
    assert all(key & (key - 1) == 0 for key in buckets)  # powers of two
    assert list(buckets.values())[-1] == 2  # cumulative
    assert list(db.execute(client, [b"LATENCY", b"HISTOGRAM", b"client|id"])) == [b"client|id"]  # type: ignore[call-overload]


def test_cumulative_usec_buckets() -> None:
    histogram = [0] * HISTOGRAM_BUCKETS
    for nsec in (100, 900, 1500, 3000, 3000, 10**6):
        histogram[bucket_of(nsec)] += 1
    assert cumulative_usec(histogram) == {1: 2, 2: 3, 4: 5, 1024: 6}


def test_replaying_the_log_leaves_no_stats_or_slow_log() -> None:
    from kvserver.aof_format import HEADER, encode_frame
    from kvserver.replay import replay

    db = Database(Config(slowlog_log_slower_than=0))
    image = HEADER + encode_frame([[b"SET", b"k", b"v"], [b"INCR", b"k"], [b"RPUSH", b"l", b"x"]])
    replay(db, image, progress=False)
    assert db.keyspace.get(b"l") is not None
    assert db.monitoring.commands == {}
    assert db.monitoring.errors == {}
    assert not db.monitoring.slowlog
