"""PING round trips on one connection, in a process of their own, until SIGTERM (run by
``common.ping_during``).

A process of its own, so the only thing a round trip waits for besides the server is this
loop: in a thread of the benchmark's process, a reply that arrived waited for the interpreter's
lock while the other thread polled the server (up to the 5 ms switch interval). A plain socket,
so the client's own work per PING is a ``send`` and a ``recv``. One PING every ``INTERVAL``
seconds (as ``redis-cli --latency -i``, denser), not back to back: on this 2-core machine a
pinger that never sleeps takes a core, and the server under test then shares the other with
everything else that runs.

    python -m tests.bench.pinger PORT     # prints "ready", then, after SIGTERM, the latencies

Output: a line "ready" once connected and one PING answered, then, after SIGTERM, the round
trips in milliseconds as little-endian doubles (``array('d')``) on stdout.
"""

from __future__ import annotations

import array
import signal
import socket
import sys
import time

PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"
INTERVAL = 0.0005  # seconds from one PING's start to the next one's


def main() -> None:
    port = int(sys.argv[1])
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    latencies = array.array("d")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(PING)
        if sock.recv(64) != PONG:  # (a 7-byte reply arrives in one piece on loopback)
            raise SystemExit("the server did not answer PING with +PONG")
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        clock = time.perf_counter
        started = clock() - INTERVAL
        while not stop:
            pause = INTERVAL - (clock() - started)
            if pause > 0:
                time.sleep(pause)
            started = clock()
            sock.sendall(PING)
            reply = sock.recv(64)
            while 0 < len(reply) < len(PONG):
                reply += sock.recv(64)
            if not reply:
                break  # the server closed the connection: report what was measured
            latencies.append((clock() - started) * 1000)
    sys.stdout.buffer.write(latencies.tobytes())


if __name__ == "__main__":
    main()
