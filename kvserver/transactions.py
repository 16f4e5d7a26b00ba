"""MULTI's queue and WATCH: which clients watch which keys, fed by the keyspace's change signal.

A ``Watches`` subscribes to its keyspace only while some key is watched, so with nobody watching
a write pays nothing for it. Any change the keyspace announces to a watched key (a command's
write, a creation, a deletion, an expiry) marks its watchers dirty; FLUSHALL marks the watchers
of every key it removes. EXEC then fails. A no-op write announces nothing, so it touches nothing,
as in Redis. The command handlers (MULTI, EXEC, WATCH...) are in ``commands/transactions.py``;
the dispatcher checks a command sent after MULTI (its refusals mark the transaction) and hands
it here to be queued. No sockets.
"""

from __future__ import annotations

from typing import Final

from kvserver.keyspace import KeyListener, Keyspace
from kvserver.protocol import QUEUED
from kvserver.state import ClientState

# Commands that run at once inside MULTI instead of being queued.
RUN_IN_MULTI: Final = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})


def queue(client: ClientState, argv: list[bytes]) -> object:
    """Queue a checked command for EXEC; the reply is QUEUED."""
    assert client.multi is not None
    client.multi.append(argv)
    return QUEUED


class Watches(KeyListener):
    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        self.watchers: dict[bytes, set[ClientState]] = {}

    def watch(self, client: ClientState, key: bytes) -> None:
        if not self.watchers:
            self.keyspace.subscribe(self)
        self.watchers.setdefault(key, set()).add(client)
        client.watched.add(key)

    def unwatch(self, client: ClientState) -> None:
        watchers = self.watchers
        for key in client.watched:
            watching = watchers.get(key)
            if watching is not None:
                watching.discard(client)
                if not watching:
                    del watchers[key]
        client.watched.clear()
        client.watch_dirty = False
        if not watchers:
            self.keyspace.unsubscribe(self)

    def discard(self, client: ClientState) -> None:
        """End the client's transaction without running it (EXECABORT): queue and watches go."""
        client.multi = None
        client.exec_error = False
        self.unwatch(client)

    # --- the change signal ---------------------------------------------------------------------

    def key_changed(self, event: str, key: bytes) -> None:
        watching = self.watchers.get(key)
        if watching:
            for client in watching:
                client.watch_dirty = True

    def flushed(self, keyspace: Keyspace) -> None:
        data = keyspace.data
        for key, watching in self.watchers.items():
            if key in data:  # a key that did not exist is not changed by being flushed
                for client in watching:
                    client.watch_dirty = True
