"""PUBLISH to 1 and to 50 subscribers on kvserver and on redis-server: messages per second.

One publisher pipelines PUBLISH of 100-byte messages (batches of 100) on one connection; the
subscribers are raw sockets read by a separate process, which only counts bytes (every message
frame has the same size), so the reader is never what is measured. The rate is messages
published per second, from the first PUBLISH until every subscriber has received every message;
deliveries per second is that times the number of subscribers. Both servers run appendfsync
everysec (PUBLISH writes nothing to the log).

    python -m tests.bench.bench_pubsub [--messages 100000] [--json]
"""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import sys
import time
from multiprocessing.connection import Connection

from kvserver.protocol import encode_command
from tests.bench.common import Row, each_server, main_for
from tests.support import ServerProcess

CHANNEL = b"bench"
PAYLOAD = b"m" * 100
BATCH = 100
FRAME = len(b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(CHANNEL), CHANNEL, len(PAYLOAD), PAYLOAD))
CONFIRMATION = len(b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%b\r\n:1\r\n" % (len(CHANNEL), CHANNEL))


def recv_exactly(sock: socket.socket, size: int) -> None:
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("closed")
        size -= len(chunk)


def subscribers(port: int, count: int, messages: int, pipe: Connection) -> None:
    """The reader process: subscribe ``count`` sockets, say ready, count bytes until all arrived."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.sendall(encode_command("SUBSCRIBE", CHANNEL))
        recv_exactly(sock, CONFIRMATION)
        socks.append(sock)
    pipe.send("ready")
    selector = selectors.DefaultSelector()
    remaining = {}
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        remaining[sock] = messages * FRAME
    while remaining:
        for key, _ in selector.select():
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            data = ready.recv(1 << 20)
            if not data:
                raise ConnectionError("a subscriber was closed")
            remaining[ready] -= len(data)
            if remaining[ready] <= 0:
                selector.unregister(ready)
                del remaining[ready]
    pipe.send(time.time())
    for sock in socks:
        sock.close()


def publish(port: int, count: int, messages: int) -> dict[str, float]:
    parent, child = multiprocessing.Pipe()
    reader = multiprocessing.get_context("fork").Process(target=subscribers, args=(port, count, messages, child))
    reader.start()
    assert parent.recv() == "ready"
    pub = socket.create_connection(("127.0.0.1", port))
    batch = encode_command("PUBLISH", CHANNEL, PAYLOAD) * BATCH
    reply = len(b":%d\r\n" % count) * BATCH
    started = time.time()
    for _ in range(messages // BATCH):
        pub.sendall(batch)
        recv_exactly(pub, reply)
    published = time.time()
    finished = float(parent.recv())
    reader.join(60)
    pub.close()
    took = max(finished, published) - started
    rate = (messages // BATCH) * BATCH / took
    return {"messages_per_s": rate, "deliveries_per_s": rate * count}


def run(messages: int = 100_000) -> list[Row]:
    def measure(server: ServerProcess) -> dict[str, float]:
        one = publish(server.port, 1, messages)
        fifty = publish(server.port, 50, messages // 10)
        return {
            "one": one["messages_per_s"],
            "fifty": fifty["messages_per_s"],
            "fifty_deliveries": fifty["deliveries_per_s"],
        }

    results = each_server("everysec", measure)
    return [
        Row.of("", "PUBLISH to 1 subscriber, 100 B, pipelined", "msg/s", results, "one"),
        Row.of("", "PUBLISH to 50 subscribers, 100 B, pipelined", "msg/s", results, "fifty"),
        Row.of("", "  deliveries to the 50 subscribers", "msg/s", results, "fifty_deliveries"),
    ]


if __name__ == "__main__":
    sys.exit(main_for(run, messages=100_000))
