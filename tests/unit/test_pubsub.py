"""Pub/sub and MONITOR in-process: the registry, subscribed mode, frames, counts and MONITOR lines,
through Database.execute with clients whose pushes are collected (no sockets)."""

from __future__ import annotations

import re

import pytest

from kvserver.config import Config, ConfigError
from kvserver.database import Database
from kvserver.protocol import PushReply, encode_reply
from kvserver.pubsub import output_limit_exceeded, redacted
from kvserver.state import quote_repr
from tests.support import read_all as parse_all


class Client:
    """A ClientState whose pushed bytes are kept, and whose replies are encoded as a server would."""

    def __init__(self, db: Database, resp3: bool = False, addr: str = "127.0.0.1:5000") -> None:
        self.db = db
        self.state = db.clients.new(addr)
        db.clients.add(self.state)
        self.state.resp3 = resp3
        self.pushed: list[bytes] = []
        self.state.push = self.pushed.append

    def raw(self, *argv: bytes | str) -> bytes:
        args = [a.encode() if isinstance(a, str) else a for a in argv]
        return encode_reply(self.db.execute(self.state, args), self.state.resp3)

    def received(self) -> list[object]:
        values = parse_all(b"".join(self.pushed))
        self.pushed.clear()
        return values


def channels(reply: bytes) -> list[bytes]:
    [names] = parse_all(reply)
    assert isinstance(names, list)
    return sorted(names)


@pytest.fixture
def db() -> Database:
    return Database(Config())


def test_subscribe_confirms_each_channel_with_the_running_count(db: Database) -> None:
    c = Client(db)
    assert parse_all(c.raw("SUBSCRIBE", "a", "b", "a")) == [
        [b"subscribe", b"a", 1],
        [b"subscribe", b"b", 2],
        [b"subscribe", b"a", 2],
    ]
    assert parse_all(c.raw("PSUBSCRIBE", "x*")) == [[b"psubscribe", b"x*", 3]]
    assert parse_all(c.raw("SSUBSCRIBE", "s")) == [[b"ssubscribe", b"s", 1]]  # shard channels count apart
    assert parse_all(c.raw("UNSUBSCRIBE")) == [[b"unsubscribe", b"a", 2], [b"unsubscribe", b"b", 1]]
    assert parse_all(c.raw("PUNSUBSCRIBE")) == [[b"punsubscribe", b"x*", 0]]
    assert c.state.subs is not None  # still subscribed to the shard channel
    assert parse_all(c.raw("SUNSUBSCRIBE")) == [[b"sunsubscribe", b"s", 0]]
    assert c.state.subs is None


def test_unsubscribe_with_nothing_subscribed_answers_once_with_a_nil_name(db: Database) -> None:
    c = Client(db)
    assert c.raw("UNSUBSCRIBE") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    c.raw("PSUBSCRIBE", "p*")
    assert c.raw("UNSUBSCRIBE") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n"  # the pattern counts
    assert c.raw("SUNSUBSCRIBE") == b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n"


def test_resp2_subscribed_mode_refuses_other_commands_with_redis_text(db: Database) -> None:
    c = Client(db)
    c.raw("SUBSCRIBE", "a")
    assert c.raw("GET", "k") == (
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
        b"in this context\r\n"
    )
    assert b"'config|get'" in c.raw("CONFIG", "GET", "x")
    assert b"'multi'" in c.raw("MULTI")
    assert c.raw("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    assert c.raw("PING", "hi") == b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"
    assert c.raw("RESET") == b"+RESET\r\n"
    assert c.state.subs is None
    assert db.pubsub.channels == {}
    assert c.raw("GET", "k") == b"$-1\r\n"


def test_resp3_allows_every_command_and_pushes_messages(db: Database) -> None:
    sub, pub = Client(db, resp3=True), Client(db)
    assert sub.raw("SUBSCRIBE", "a") == b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
    assert sub.raw("SET", "k", "v") == b"+OK\r\n"
    assert sub.raw("PING") == b"+PONG\r\n"
    assert pub.raw("PUBLISH", "a", "m") == b":1\r\n"
    assert sub.pushed == [b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"]


def test_publish_counts_channel_and_pattern_receivers_with_binary_data(db: Database) -> None:
    plain, pattern, both, pub = Client(db), Client(db), Client(db, resp3=True), Client(db)
    channel, payload = b"ch\x00\xff\r\n", b"\x00payload\r\n\xff"
    plain.raw("SUBSCRIBE", channel)
    pattern.raw("PSUBSCRIBE", b"ch*", b"nomatch*")
    both.raw("SUBSCRIBE", channel)
    both.raw("PSUBSCRIBE", b"c?\x00*")
    for c in (plain, pattern, both):
        c.pushed.clear()
    assert pub.raw("PUBLISH", channel, payload) == b":4\r\n"
    assert plain.received() == [[b"message", channel, payload]]
    assert pattern.received() == [[b"pmessage", b"ch*", channel, payload]]
    assert both.pushed[1].startswith(b">4\r\n")  # RESP3: push frames
    assert both.received() == [[b"message", channel, payload], [b"pmessage", b"c?\x00*", channel, payload]]
    assert pub.raw("PUBLISH", "other", "x") == b":0\r\n"
    assert pub.raw("SPUBLISH", channel, "x") == b":0\r\n"  # shard channels are a namespace apart


def test_sharded_publish_reaches_shard_subscribers_only(db: Database) -> None:
    shard, plain, pub = Client(db), Client(db), Client(db)
    shard.raw("SSUBSCRIBE", "s")
    plain.raw("SUBSCRIBE", "s")
    shard.pushed.clear()
    plain.pushed.clear()
    assert pub.raw("SPUBLISH", "s", "m") == b":1\r\n"
    assert shard.received() == [[b"smessage", b"s", b"m"]]
    assert plain.received() == []
    assert parse_all(pub.raw("PUBSUB", "SHARDCHANNELS")) == [[b"s"]]
    assert parse_all(pub.raw("PUBSUB", "SHARDNUMSUB", "s", "t")) == [[b"s", 1, b"t", 0]]


def test_pubsub_introspection(db: Database) -> None:
    a, b, pub = Client(db), Client(db), Client(db)
    a.raw("SUBSCRIBE", "news.1", "news.2", "sport")
    b.raw("SUBSCRIBE", "news.1")
    a.raw("PSUBSCRIBE", "n*", "s*")
    b.raw("PSUBSCRIBE", "n*")
    assert channels(pub.raw("PUBSUB", "CHANNELS")) == [b"news.1", b"news.2", b"sport"]
    assert channels(pub.raw("PUBSUB", "CHANNELS", "news.*")) == [b"news.1", b"news.2"]
    assert parse_all(pub.raw("PUBSUB", "NUMSUB", "news.1", "sport", "none")) == [
        [b"news.1", 2, b"sport", 1, b"none", 0]
    ]
    assert pub.raw("PUBSUB", "NUMSUB") == b"*0\r\n"
    assert pub.raw("PUBSUB", "NUMPAT") == b":2\r\n"  # distinct patterns
    assert pub.raw("PUBSUB", "CHANNELS", "a", "b") == (
        b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n"
    )


def test_a_closed_client_leaves_no_subscription_behind(db: Database) -> None:
    c, pub = Client(db), Client(db)
    c.raw("SUBSCRIBE", "a")
    c.raw("PSUBSCRIBE", "a*")
    c.raw("SSUBSCRIBE", "a")
    db.client_closed(c.state)
    assert (db.pubsub.channels, db.pubsub.patterns, db.pubsub.shard) == ({}, {}, {})
    assert pub.raw("PUBLISH", "a", "m") == b":0\r\n"


def test_publish_inside_multi_is_queued_and_counts_at_exec(db: Database) -> None:
    sub, pub = Client(db), Client(db)
    sub.raw("SUBSCRIBE", "done")
    sub.pushed.clear()
    assert pub.raw("MULTI") == b"+OK\r\n"
    assert pub.raw("SET", "result", "42") == b"+QUEUED\r\n"
    assert pub.raw("PUBLISH", "done", "result") == b"+QUEUED\r\n"
    assert sub.pushed == []
    assert pub.raw("EXEC") == b"*2\r\n+OK\r\n:1\r\n"
    assert sub.received() == [[b"message", b"done", b"result"]]


def test_patterns_cost_is_bounded_for_a_hostile_pattern(db: Database) -> None:
    """The pattern that took Redis's recursive matcher exponential time is matched at once."""
    sub, pub = Client(db), Client(db)
    sub.raw("PSUBSCRIBE", b"a*" * 30 + b"b")
    assert pub.raw("PUBLISH", b"a" * 10_000, "x") == b":0\r\n"


# --- MONITOR ------------------------------------------------------------------------------------------

LINE = re.compile(rb"^\+(\d+)\.(\d{6}) \[0 ([^\]]+)\] (.*)\r\n$")


def monitor_lines(c: Client) -> list[tuple[bytes, bytes]]:
    lines = []
    for data in c.pushed:
        match = LINE.match(data)
        assert match is not None, data
        lines.append((match.group(3), match.group(4)))
    c.pushed.clear()
    return lines


def test_monitor_sees_commands_after_they_run_redacted_and_quoted(db: Database) -> None:
    mon, c = Client(db), Client(db, addr="127.0.0.1:6000")
    assert mon.raw("MONITOR") == b"+OK\r\n"
    c.raw("SET", "k", b'a"b\\c\x01\n')
    c.raw("AUTH", "secret")
    c.raw("HELLO", "2", "AUTH", "default", "pw")
    c.raw("CONFIG", "GET", "maxmemory")  # admin: not shown
    c.raw("NOSUCHCOMMAND")  # refused before it runs: not shown
    c.raw("MULTI")
    c.raw("INCR", "n")
    c.raw("EXEC")
    assert monitor_lines(mon) == [
        (b"127.0.0.1:6000", b'"SET" "k" "a\\"b\\\\c\\x01\\n"'),
        (b"127.0.0.1:6000", b'"AUTH" "(redacted)"'),
        (b"127.0.0.1:6000", b'"HELLO" "2" "AUTH" "(redacted)" "(redacted)"'),
        (b"127.0.0.1:6000", b'"MULTI"'),
        (b"127.0.0.1:6000", b'"INCR" "n"'),  # queued commands show when EXEC runs them
        (b"127.0.0.1:6000", b'"EXEC"'),
    ]


def test_monitor_inside_multi_is_refused_at_exec_and_a_monitor_cant_touch_keys(db: Database) -> None:
    c = Client(db)
    c.raw("MULTI")
    assert c.raw("MONITOR") == b"+QUEUED\r\n"
    assert c.raw("EXEC") == b"*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"
    assert not c.state.monitor
    c.raw("MONITOR")
    assert c.raw("GET", "k") == b"-ERR Replica can't interact with the keyspace\r\n"
    assert c.raw("MONITOR") == b""  # a second MONITOR: no reply, as in Redis
    assert c.raw("RESET") == b"+RESET\r\n"
    assert db.pubsub.monitors == {}
    assert c.raw("GET", "k") == b"$-1\r\n"


def test_unix_socket_clients_show_the_socket_path(db: Database) -> None:
    db.config.unixsocket = "/tmp/kv.sock"
    mon, c = Client(db), Client(db)
    c.state.unix = True
    mon.raw("MONITOR")
    c.raw("PING")
    assert monitor_lines(mon) == [(b"unix:/tmp/kv.sock", b'"PING"')]


def test_quoting_matches_sdscatrepr() -> None:
    assert quote_repr(b"abc123") == b'"abc123"'
    assert quote_repr(b"") == b'""'
    assert quote_repr(b"\x07\x08\t\r\n \x7f\x80\xff~") == b'"\\a\\b\\t\\r\\n \\x7f\\x80\\xff~"'
    assert redacted([b"auth", b"u", b"p"]) == [b"auth", b"(redacted)", b"(redacted)"]
    assert redacted([b"HELLO", b"3", b"SETNAME", b"n"]) == [b"HELLO", b"3", b"SETNAME", b"n"]


def sdscatrepr(data: bytes) -> bytes:
    """Redis's sdscatrepr, byte by byte, as the reference."""
    named = {ord("\\"): b"\\\\", ord('"'): b'\\"', 10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b"}
    out = bytearray(b'"')
    for byte in data:
        out += named.get(byte, bytes([byte]) if 32 <= byte < 127 else b"\\x%02x" % byte)
    return bytes(out + b'"')


def test_quoting_is_sdscatrepr_for_every_byte() -> None:
    every = bytes(range(256))
    assert quote_repr(every) == sdscatrepr(every)
    for byte in range(256):
        assert quote_repr(bytes([byte]) * 3) == sdscatrepr(bytes([byte]) * 3), byte


# --- client-output-buffer-limit ---------------------------------------------------------------------


def test_output_limit_hard_and_soft() -> None:
    limits = (100, 10, 5)
    assert output_limit_exceeded(limits, 100, 0.0, 0.0) == (True, 0.0)
    assert output_limit_exceeded(limits, 9, 1.0, 0.0) == (False, 0.0)
    assert output_limit_exceeded(limits, 10, 1.0, 0.0) == (False, 1.0)  # over soft: the clock starts
    assert output_limit_exceeded(limits, 50, 6.0, 1.0) == (False, 1.0)
    assert output_limit_exceeded(limits, 50, 6.5, 1.0) == (True, 1.0)
    assert output_limit_exceeded(limits, 5, 7.0, 1.0) == (False, 0.0)  # back under: reset
    assert output_limit_exceeded((0, 0, 0), 1 << 40, 1.0, 0.0) == (False, 0.0)


def test_output_limit_config_merges_classes() -> None:
    config = Config()
    assert config.get("client-output-buffer-limit") == (
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    )
    config.set("client-output-buffer-limit", "pubsub 1mb 512kb 10 replica 1 2 3")
    assert config.client_output_buffer_limit["pubsub"] == (1 << 20, 512 << 10, 10)
    assert config.get("client-output-buffer-limit") == "normal 0 0 0 slave 1 2 3 pubsub 1048576 524288 10"
    for bad in ("pubsub 1 1", "master 1 1 1", "pubsub 1 1 -1", "pubsub x 1 1"):
        with pytest.raises(ConfigError):
            config.set("client-output-buffer-limit", bad)


def test_push_frame_shapes() -> None:
    assert encode_reply(PushReply([b"message", b"c", b"m"]), True).startswith(b">3\r\n")
    assert encode_reply(PushReply([b"message", b"c", b"m"]), False).startswith(b"*3\r\n")


def test_client_list_type_pubsub_lists_the_subscribers(db: Database) -> None:
    sub, mon, plain = Client(db), Client(db), Client(db)
    sub.raw("PSUBSCRIBE", "x*")
    mon.raw("MONITOR")
    pubsub = plain.raw("CLIENT", "LIST", "TYPE", "pubsub")
    normal = plain.raw("CLIENT", "LIST", "TYPE", "normal")
    assert b"id=%d " % sub.state.id in pubsub
    assert b"flags=P " in pubsub
    assert b"psub=1 " in pubsub
    assert pubsub.count(b"\n") == 3  # the bulk header, the one client line, the final CRLF
    assert b"id=%d " % sub.state.id not in normal
    assert b"flags=O " in normal  # a monitor is a normal client, as in Redis


def test_output_limits_from_a_config_file_accumulate_and_rewrite_to_a_loadable_line() -> None:
    from kvserver.directives import load, rewritten

    text = "client-output-buffer-limit pubsub 1mb 1mb 0\nclient-output-buffer-limit normal 1 2 3\n"
    config = load(text).config
    assert (
        config.get("client-output-buffer-limit") == "normal 1 2 3 slave 268435456 67108864 60 pubsub 1048576 1048576 0"
    )
    again = load(rewritten(config, text)).config
    assert again.client_output_buffer_limit == config.client_output_buffer_limit
