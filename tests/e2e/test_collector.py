"""The server's garbage-collection schedule, end to end: a full collection runs once clients pause."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kvserver.protocol import encode_command
from tests.support import RawClient, ServerProcess, wait_for


@pytest.mark.slow
def test_full_collections_run_when_the_server_goes_idle(spawn: Callable[..., ServerProcess]) -> None:
    server = spawn("--loglevel", "verbose")
    client = RawClient(server.port, timeout=60)
    batch = 10_000
    for start in range(0, 100_000, batch):  # 100k hashes: tracked dicts, many young collections
        client.send(b"".join(encode_command(b"HSET", b"h:%d" % i, b"f", b"v") for i in range(start, start + batch)))
        assert client.recv_exactly(4 * batch) == b":1\r\n" * batch
    client.close()
    # the client is gone: within a few cron ticks of idleness the schedule runs a full collection
    wait_for(lambda: "Full garbage collection (idle)" in server.log(), timeout=20)
