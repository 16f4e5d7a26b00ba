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

from collections.abc import Callable
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


class Watches:
    """Every watched key of every database: one ``WatchedDb`` per database where a key is watched,
    subscribed to that database's keyspace while it has watchers. A client's watched keys are
    ``(db, key)`` pairs, as in Redis (WATCH in db 0, SELECT 1, WATCH again: both count)."""

    def __init__(self, keyspace_of: Callable[[int], Keyspace]) -> None:
        self.keyspace_of = keyspace_of
        self.dbs: dict[int, WatchedDb] = {}

    def watch(self, client: ClientState, key: bytes, db: int = 0) -> None:
        watched = self.dbs.get(db)
        if watched is None:
            watched = self.dbs[db] = WatchedDb(self.keyspace_of(db))
        watched.watch(client, key)
        client.watched.add((db, key))

    def unwatch(self, client: ClientState) -> None:
        dbs = self.dbs
        for db, key in client.watched:
            watched = dbs.get(db)
            if watched is not None and watched.forget(client, key):
                del dbs[db]
        client.watched.clear()
        client.watch_dirty = False

    def discard(self, client: ClientState) -> None:
        """End the client's transaction without running it (EXECABORT): queue and watches go."""
        client.multi = None
        client.exec_error = False
        self.unwatch(client)

    def swapped(self, first: int, second: int) -> None:
        """SWAPDB (the keyspaces already exchanged): as Redis's touchAllWatchedKeysInDb, a key
        watched in either database is dirtied if it exists in the old or the new keyspace; each
        database's watchers then listen to its new keyspace."""
        for index in (first, second):
            watched = self.dbs.get(index)
            if watched is None:
                continue
            old, new = watched.keyspace, self.keyspace_of(index)
            for key, watching in watched.watchers.items():
                if key in old.data or key in new.data:
                    for client in watching:
                        client.watch_dirty = True
            old.unsubscribe(watched)
            watched.keyspace = new
            new.subscribe(watched)


class WatchedDb(KeyListener):
    """The watchers of one database's keys, fed by its keyspace's change signal."""

    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        self.watchers: dict[bytes, set[ClientState]] = {}
        keyspace.subscribe(self)

    def watch(self, client: ClientState, key: bytes) -> None:
        self.watchers.setdefault(key, set()).add(client)

    def forget(self, client: ClientState, key: bytes) -> bool:
        """Stop ``client`` watching ``key``; True when nobody watches anything here any more."""
        watching = self.watchers.get(key)
        if watching is not None:
            watching.discard(client)
            if not watching:
                del self.watchers[key]
        if self.watchers:
            return False
        self.keyspace.unsubscribe(self)
        return True

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
