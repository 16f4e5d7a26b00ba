"""The asyncio glue in-process: a real Connection and Server on a real event loop, a fake transport.

The transport records what the server writes and whether it paused reading or closed, the way
uvicorn tests its protocols; no socket is opened. The database is the real one, in memory.
"""

from __future__ import annotations

import asyncio
import time

from kvserver.config import Config
from tests.support import ConnectionHarness as Harness
from tests.support import cmd


def test_pipelined_commands_are_answered_in_one_write_in_order(h: Harness) -> None:
    conn, transport = h.connect()
    h.feed(conn, cmd("SET", "k", "v") + cmd("GET", "k") + cmd("INCR", "n") + cmd("PING"))
    assert transport.take() == b"+OK\r\n$1\r\nv\r\n:1\r\n+PONG\r\n"


def test_a_command_split_across_reads_is_answered_once_complete(h: Harness) -> None:
    conn, transport = h.connect()
    frame = cmd("SET", "key", "a value")
    for i in range(len(frame) - 1):
        h.feed(conn, frame[i : i + 1])
        assert transport.take() == b""
    h.feed(conn, frame[-1:])
    assert transport.take() == b"+OK\r\n"


def test_a_protocol_error_answers_then_closes_and_other_clients_carry_on(h: Harness) -> None:
    bad, bad_transport = h.connect()
    good, good_transport = h.connect(("127.0.0.1", 50001))
    h.feed(bad, cmd("PING") + b"*1\r\n$x\r\n")
    assert bad_transport.take() == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    assert bad_transport.closed
    h.feed(good, cmd("PING"))
    assert good_transport.take() == b"+PONG\r\n"


def test_quit_replies_then_closes(h: Harness) -> None:
    conn, transport = h.connect()
    h.feed(conn, cmd("QUIT") + cmd("PING"))
    assert transport.take() == b"+OK\r\n"
    assert transport.closed


def test_connection_lost_forgets_the_client(h: Harness) -> None:
    conn, _ = h.connect()
    assert len(h.db.clients) == 1
    conn.connection_lost(None)
    assert len(h.db.clients) == 0


def test_maxclients_refuses_the_excess_with_redis_text(loop: asyncio.AbstractEventLoop) -> None:
    h = Harness(loop, Config(maxclients=1))
    h.connect()
    _, transport = h.connect(("127.0.0.1", 50001))
    assert transport.take() == b"-ERR max number of clients reached\r\n"
    assert transport.closed


def test_a_blocked_client_keeps_its_pipeline_until_served(h: Harness) -> None:
    waiter, waiter_transport = h.connect()
    pusher, pusher_transport = h.connect(("127.0.0.1", 50001))
    h.feed(waiter, cmd("BLPOP", "q", "0") + cmd("PING"))
    assert waiter_transport.take() == b""
    h.feed(pusher, cmd("RPUSH", "q", "job"))
    assert pusher_transport.take() == b":1\r\n"
    assert waiter_transport.take() == b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n+PONG\r\n"


def test_a_client_that_stops_reading_is_paused(h: Harness) -> None:
    conn, transport = h.connect()
    conn.pause_writing()
    assert not transport.reading
    conn.resume_writing()
    assert transport.reading


def test_requirepass_holds_everything_but_auth(loop: asyncio.AbstractEventLoop) -> None:
    h = Harness(loop, Config(requirepass="s3cret"))
    conn, transport = h.connect()
    h.feed(conn, cmd("GET", "k") + cmd("AUTH", "wrong") + cmd("AUTH", "s3cret") + cmd("GET", "k"))
    assert transport.take() == (
        b"-NOAUTH Authentication required.\r\n"
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        b"+OK\r\n$-1\r\n"
    )


def test_a_blocked_client_times_out_from_the_deadline_the_blocking_module_gives(h: Harness) -> None:
    # the module's clock runs 10 s behind: BLPOP's 5 s deadline is already past when it parks,
    # so the loop's timer fires at once (a timer set from the timeout itself would wait 5 s)
    h.db.blocking.clock = lambda: time.monotonic() - 10
    conn, transport = h.connect()
    h.feed(conn, cmd("BLPOP", "q", "5") + cmd("PING"))
    assert transport.take() == b"*-1\r\n+PONG\r\n"  # the timeout reply, then the pipelined command
    assert conn.block_timer is None
    assert h.db.blocking.parked == {}


def test_a_blocked_client_served_by_another_connection_has_its_timer_cancelled(h: Harness) -> None:
    waiter, waiter_transport = h.connect()
    pusher, pusher_transport = h.connect(("127.0.0.1", 50001))
    h.feed(waiter, cmd("BLPOP", "q", "5"))
    h.feed(pusher, cmd("RENAME", "src", "q") + cmd("RPUSH", "src", "x") + cmd("RENAME", "src", "q"))
    assert pusher_transport.take() == b"-ERR no such key\r\n:1\r\n+OK\r\n"
    assert waiter_transport.take() == b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n"  # RENAME created q: served
    assert waiter.block_timer is None
    h.feed(waiter, cmd("BLPOP", "q", "0"))
    assert waiter.block_timer is None  # no deadline: no timer
