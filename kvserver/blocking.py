"""Clients waiting on keys (BLPOP & co.), sans-IO: parking, readiness, serving, timeouts as data.

A blocking command that finds nothing returns a ``Block``; the dispatcher ``park``s the client on
its keys, each key keeping its waiters in arrival order. The keyspace's change signal (a
``KeyListener``) marks a key *ready* when it is written while somebody waits on it; after the
command that wrote it (after a whole EXEC) ``serve`` gives each ready key's waiters their turn,
oldest first. A consuming waiter (BLPOP) is served while its ``serve`` function finds something
and stops the round when it returns None; a non-consuming one (XREAD BLOCK) is woken on every
change and takes nothing, so every such waiter on the key is served.

Time is data here: ``park`` returns the deadline (on the module's clock, ``time.monotonic`` unless
a test gives another) and the connection sets its loop timer from it; ``expire(now)`` or
``time_out(client)`` end the waits that are due. Nothing in this module knows about sockets, the
event loop or the command table.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kvserver.keyspace import KeyListener, Keyspace


@dataclass(slots=True)
class Block:
    """A handler's answer when the client must wait (BLPOP on empty lists...).

    The client is parked on ``keys``; when one of them changes, ``serve`` is called with the
    context, the client and that key, and returns the reply, or None to keep waiting. After
    ``timeout`` seconds (0: never) the client gets ``timeout_reply``. ``consume`` False: a
    waiter that takes nothing (XREAD BLOCK), so the waiters behind it are served too.
    """

    keys: list[bytes]
    timeout: float
    serve: Callable[[Any, Any, bytes], object | None]
    timeout_reply: object
    argv: list[bytes]  # the blocking command
    consume: bool = True


class Waiter(Protocol):
    """What a parked client must offer: its Block, and where the reply that ends it goes."""

    blocked: Block | None
    on_unblocked: Callable[[object], None]


class Parked:
    """A parked client's bookkeeping: when it times out, and what its command writes."""

    __slots__ = ("deadline", "written")

    def __init__(self, deadline: float | None, written: object) -> None:
        self.deadline = deadline
        self.written = written  # opaque to this module: the dispatcher's spec of the command


class Blocking(KeyListener):
    """Every parked client, by key in arrival order, and the keys that became ready.

    It listens to ``keyspace`` only while somebody is parked.
    """

    def __init__(
        self,
        keyspace: Keyspace,
        clock: Callable[[], float] = time.monotonic,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.keyspace = keyspace
        self.clock = clock
        self.on_ready = on_ready  # called as a key becomes ready (the owner's server-wide record)
        self.waiting: dict[bytes, deque[Waiter]] = {}
        self.ready: dict[bytes, None] = {}  # an insertion-ordered set
        self.parked: dict[Waiter, Parked] = {}

    def __len__(self) -> int:
        return len(self.parked)

    # --- the change signal ---------------------------------------------------------------------

    def key_changed(self, event: str, key: bytes) -> None:
        if key in self.waiting:
            self.ready[key] = None
            if self.on_ready is not None:
                self.on_ready()

    def flushed(self, keyspace: Keyspace) -> None:
        """FLUSHALL / FLUSHDB: every waited key is ready (served after the flush: a blocked
        XREADGROUP learns that its stream is gone, as Redis's signalFlushedDb tells it)."""
        self._all_ready()

    def retarget(self, keyspace: Keyspace) -> None:
        """SWAPDB: the parked clients now wait on ``keyspace``; each waited key is ready (one it
        holds may serve them, one it lacks ends a blocked XREADGROUP, as in Redis 7.0)."""
        if self.parked:
            self.keyspace.unsubscribe(self)
            keyspace.subscribe(self)
        self.keyspace = keyspace
        self._all_ready()

    def _all_ready(self) -> None:
        for key in self.waiting:
            self.ready[key] = None
        if self.ready and self.on_ready is not None:
            self.on_ready()

    # --- parking -------------------------------------------------------------------------------

    def park(self, client: Waiter, block: Block, written: object = None) -> float | None:
        """Park ``client`` on the block's keys; return its deadline (now + timeout), or None."""
        deadline = self.clock() + block.timeout if block.timeout > 0 else None
        if not self.parked:
            self.keyspace.subscribe(self)
        client.blocked = block
        self.parked[client] = Parked(deadline, written)
        for key in block.keys:
            self.waiting.setdefault(key, deque()).append(client)
        return deadline

    def unpark(self, client: Waiter) -> None:
        """Forget a waiting client without answering it (it is closing)."""
        block, client.blocked = client.blocked, None
        if block is None:
            return
        del self.parked[client]
        for key in block.keys:
            waiters = self.waiting.get(key)
            if waiters is not None:
                waiters.remove(client)
                if not waiters:
                    del self.waiting[key]
        if not self.parked:
            self.keyspace.unsubscribe(self)
            self.ready.clear()

    def unblock(self, client: Waiter, reply: object) -> bool:
        """End a wait with ``reply`` (served, timed out, CLIENT UNBLOCK); False if not blocked."""
        if client.blocked is None:
            return False
        self.unpark(client)
        client.on_unblocked(reply)
        return True

    def time_out(self, client: Waiter) -> bool:
        """The client's deadline passed: it gets its command's timeout reply."""
        block = client.blocked
        return block is not None and self.unblock(client, block.timeout_reply)

    def deadline(self, client: Waiter) -> float | None:
        parked = self.parked.get(client)
        return None if parked is None else parked.deadline

    def expire(self, now: float) -> int:
        """Time out every client whose deadline is at or before ``now``; return how many."""
        due = [c for c, p in self.parked.items() if p.deadline is not None and p.deadline <= now]
        for client in due:
            self.time_out(client)
        return len(due)

    # --- serving -------------------------------------------------------------------------------

    def serve(
        self,
        ctx: object,
        before: Callable[[object, Block], None] | None = None,
        after: Callable[[object, Block], None] | None = None,
        on_error: Callable[[Waiter, Exception], object] | None = None,
    ) -> None:
        """Serve the waiters of every ready key, oldest first, until no key is ready.

        ``before`` / ``after`` are called with a waiter's ``written`` and Block around its serve (the
        dispatcher announces the writes with them); ``on_error`` turns a serve that raised into
        the reply (without it the exception propagates). A serve can make more keys ready (BLMOVE
        pushing to a list somebody else waits on): they are served in the same call.
        """
        ready = self.ready
        while ready:
            key = next(iter(ready))
            del ready[key]
            waiters = self.waiting.get(key)
            if not waiters:
                continue
            for client in list(waiters):  # a snapshot: serving removes the served ones
                block = client.blocked
                if block is None or client not in self.parked:
                    continue  # unblocked by an earlier serve in this round
                written = self.parked[client].written
                if before is not None:
                    before(written, block)
                try:
                    reply = block.serve(ctx, client, key)
                except Exception as exc:
                    if on_error is None:
                        raise
                    reply = on_error(client, exc)
                if after is not None:
                    after(written, block)
                if reply is None:
                    if block.consume:
                        break  # nothing left for this one: nothing for those behind it either
                    continue
                self.unblock(client, reply)
