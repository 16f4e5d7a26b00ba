"""Delivery of messages and MONITOR lines by the asyncio glue, in-process (fake transports): the
durability barrier, the order next to the publisher's own replies, and the output buffer limit."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kvserver.config import Config
from kvserver.database import Database, NoPersistence
from kvserver.server import Server
from tests.support import ConnectionHarness as Harness
from tests.support import FakeTransport, cmd


class ManualLog(NoPersistence):
    """A log whose units become durable only when the test says so (an fsync in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.appended = 0

    def write(self, records: list[list[bytes]]) -> None:
        self.appended += 1
        self.hold = self.appended

    def barrier(self) -> int:
        return self.appended


def is_closed(transport: FakeTransport) -> bool:
    return transport.closed


@pytest.fixture
def slow_log(loop: asyncio.AbstractEventLoop) -> tuple[Harness, ManualLog]:
    h = Harness(loop, Config())
    log = ManualLog()
    h.db = Database(Config(), log)
    h.server = Server(h.db.config, h.db)
    return h, log


def test_a_message_published_after_a_write_waits_for_that_write_to_be_durable(
    slow_log: tuple[Harness, ManualLog],
) -> None:
    h, log = slow_log
    sub, sub_transport = h.connect()
    pub, pub_transport = h.connect(("127.0.0.1", 50001))
    h.feed(sub, cmd("SUBSCRIBE", "celery-task-meta-1"))
    assert sub_transport.take() == b"*3\r\n$9\r\nsubscribe\r\n$18\r\ncelery-task-meta-1\r\n:1\r\n"
    # Celery's result backend: store the result and announce it in one transaction
    h.feed(pub, cmd("MULTI") + cmd("SET", "celery-task-meta-1", "done") + cmd("PUBLISH", "celery-task-meta-1", "done"))
    assert pub_transport.take() == b"+OK\r\n+QUEUED\r\n+QUEUED\r\n"  # nothing written yet: no wait
    h.feed(pub, cmd("EXEC"))
    assert log.appended == 1
    assert sub_transport.take() == b""  # the fsync covering the SET hasn't completed
    assert pub_transport.take() == b""
    h.server.release(1)
    assert pub_transport.take() == b"*2\r\n+OK\r\n:1\r\n"
    assert sub_transport.take() == b"*3\r\n$7\r\nmessage\r\n$18\r\ncelery-task-meta-1\r\n$4\r\ndone\r\n"


def test_a_resp3_client_gets_its_own_message_before_the_publish_reply(h: Harness) -> None:
    conn, transport = h.connect()
    h.feed(conn, cmd("HELLO", "3"))
    transport.take()
    h.feed(conn, cmd("SUBSCRIBE", "c") + cmd("SET", "k", "v") + cmd("PUBLISH", "c", "m") + cmd("GET", "k"))
    assert transport.take() == (
        b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n+OK\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n:1\r\n$1\r\nv\r\n"
    )


def test_messages_to_others_follow_the_publishers_batch_in_one_write(h: Harness) -> None:
    sub, sub_transport = h.connect()
    pub, _ = h.connect(("127.0.0.1", 50001))
    h.feed(sub, cmd("SUBSCRIBE", "c"))
    sub_transport.take()
    writes: list[bytes] = []
    sub_transport.write = writes.append  # type: ignore[method-assign,assignment]
    h.feed(pub, cmd("PUBLISH", "c", "1") + cmd("PUBLISH", "c", "2"))
    assert writes == [b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\n1\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\n2\r\n"]


def test_a_monitor_sees_its_own_command_after_the_reply(h: Harness) -> None:
    conn, transport = h.connect()
    h.feed(conn, cmd("MONITOR") + cmd("PING"))
    data = transport.take()
    assert data.startswith(b"+OK\r\n+PONG\r\n+")
    assert data.endswith(b' [0 127.0.0.1:50000] "PING"\r\n')


def test_a_subscriber_past_the_hard_limit_is_closed_and_logged(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.db.config.set("client-output-buffer-limit", "pubsub 1000 0 0")
    sub, sub_transport = h.connect()
    pub, pub_transport = h.connect(("127.0.0.1", 50001))
    h.feed(sub, cmd("SUBSCRIBE", "c"))
    sub_transport.buffered = 999
    h.feed(pub, cmd("PUBLISH", "c", "x"))
    assert not is_closed(sub_transport)
    sub_transport.buffered = 1000
    with caplog.at_level(logging.WARNING, logger="kvserver"):
        h.feed(pub, cmd("PUBLISH", "c", "y"))
    assert is_closed(sub_transport)
    assert "scheduled to be closed ASAP for overcoming of output buffer limits." in caplog.text
    assert "flags=P" in caplog.text
    assert "sub=1" in caplog.text
    h.feed(pub, cmd("PUBLISH", "c", "z"))  # the closing subscriber gets nothing more
    assert pub_transport.take() == b":1\r\n:1\r\n:1\r\n"


def test_a_normal_client_has_no_output_limit_by_default(h: Harness) -> None:
    mon, mon_transport = h.connect()
    other, _ = h.connect(("127.0.0.1", 50001))
    h.feed(mon, cmd("MONITOR"))
    mon_transport.buffered = 1 << 40
    h.feed(other, cmd("PING"))
    assert not mon_transport.closed


def test_subscribers_and_monitors_are_never_closed_as_idle(h: Harness) -> None:
    h.db.config.timeout = 1
    sub, sub_transport = h.connect()
    mon, mon_transport = h.connect(("127.0.0.1", 50001))
    idle, idle_transport = h.connect(("127.0.0.1", 50002))
    h.feed(sub, cmd("SUBSCRIBE", "c"))
    h.feed(mon, cmd("MONITOR"))
    for conn in (sub, mon, idle):
        assert conn.state is not None
        conn.state.last_interaction -= 10

    async def cron_round() -> None:
        h.server._close_idle_clients()
        for _ in range(3):
            await asyncio.sleep(0)

    h.loop.run_until_complete(cron_round())
    assert idle_transport.closed
    assert not sub_transport.closed
    assert not mon_transport.closed
