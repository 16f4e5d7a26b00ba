"""SLOWLOG/LATENCY/MEMORY/CLIENT handlers in-process, on the real Database (no sockets)."""

from __future__ import annotations

import sys
from collections import deque

from kvserver.commands.diagnostics import KEY_OVERHEAD, sampled_size
from kvserver.database import Database
from kvserver.protocol import Verbatim
from kvserver.state import REPLY_ON, REPLY_SKIP, REPLY_SKIP_NEXT, ClientState
from kvserver.zset import ZSet


def info(db: Database, client: ClientState) -> dict[str, str]:
    reply = db.execute(client, [b"CLIENT", b"INFO"])
    assert isinstance(reply, Verbatim)
    return dict(field.split("=", 1) for field in reply.decode().strip().split(" "))


def test_reset_clears_reply_mode_and_no_evict() -> None:
    db = Database()
    client = db.clients.new("127.0.0.1:1")
    db.execute(client, [b"CLIENT", b"NO-EVICT", b"on"])
    assert info(db, client)["flags"] == "e"
    db.execute(client, [b"CLIENT", b"REPLY", b"SKIP"])
    assert client.reply_mode == REPLY_SKIP_NEXT
    assert db.execute(client, [b"RESET"]) == b"RESET"
    assert client.reply_mode == REPLY_ON
    assert info(db, client)["flags"] == "N"


def test_reply_skip_drops_its_own_reply_and_the_next() -> None:
    client = ClientState(1)
    client.reply_mode = REPLY_SKIP_NEXT
    assert client.reply_suppressed()  # CLIENT REPLY SKIP's own (empty) reply
    assert client.reply_mode == REPLY_SKIP
    assert client.reply_suppressed()  # the next command's
    assert client.reply_mode == REPLY_ON


def test_client_info_counts_the_running_command() -> None:
    db = Database()
    client = db.clients.new("127.0.0.1:1")
    fields = info(db, client)
    assert (fields["qbuf"], fields["argv-mem"], fields["cmd"]) == ("26", "10", "client|info")
    db.execute(client, [b"MULTI"])
    db.execute(client, [b"GET", b"k"])
    assert "flags=x " in client.describe()
    assert " multi=1 " in client.describe()


def test_client_list_and_kill_by_type() -> None:
    db = Database()
    me, other = db.clients.new("127.0.0.1:1"), db.clients.new("127.0.0.1:2")
    closed: list[int] = []
    for client in (me, other):
        db.clients.add(client)
        client.close = lambda client=client: closed.append(client.id)  # type: ignore[misc]
    listed = db.execute(me, [b"CLIENT", b"LIST", b"TYPE", b"normal"])
    assert isinstance(listed, bytes)
    assert listed.count(b"\n") == 2
    assert db.execute(me, [b"CLIENT", b"LIST", b"TYPE", b"pubsub"]) == b""
    assert db.execute(me, [b"CLIENT", b"KILL", b"TYPE", b"replica"]) == 0
    assert db.execute(me, [b"CLIENT", b"KILL", b"TYPE", b"normal", b"USER", b"default"]) == 1
    assert closed == [other.id]


def test_memory_usage_samples_and_extrapolates() -> None:
    big = {b"f%05d" % j: b"v" * 10 for j in range(10000)}
    exact = sampled_size(b"h", big, 0)
    assert exact == (
        sys.getsizeof(b"h")
        + sys.getsizeof(big)
        + KEY_OVERHEAD
        + sum(sys.getsizeof(f) + sys.getsizeof(v) for f, v in big.items())
    )
    assert sampled_size(b"h", big, 5) == exact  # every field has the same size
    assert sampled_size(b"s", b"abc", 5) == sys.getsizeof(b"s") + sys.getsizeof(b"abc") + KEY_OVERHEAD
    zset = ZSet()
    for j in range(100):
        zset.add(b"m%03d" % j, float(j))
    assert sampled_size(b"z", zset, 5) > sys.getsizeof(zset.scores)
    assert sampled_size(b"l", deque([b"x"] * 100), 5) > sampled_size(b"l", deque([b"x"]), 5)


def test_memory_usage_command() -> None:
    db = Database()
    client = db.clients.new()
    db.execute(client, [b"RPUSH", b"l", b"a", b"b"])
    usage = db.execute(client, [b"MEMORY", b"USAGE", b"l", b"SAMPLES", b"0"])
    assert isinstance(usage, int)
    assert usage > 0
    assert db.execute(client, [b"MEMORY", b"USAGE", b"nosuch"]) is None
    stats = db.execute(client, [b"MEMORY", b"STATS"])
    assert isinstance(stats, dict)
    assert stats[b"keys.count"] == 1
    assert b"db.0" in stats
