"""Per-connection and server-wide runtime state: clients, their registry, and counters. No sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from kvserver.blocking import Block

if TYPE_CHECKING:
    from kvserver.pubsub import Subscriptions

# CLIENT REPLY: ON, OFF, SKIP (its own reply is not sent, nor the next command's), as Redis's flags
REPLY_ON = 0
REPLY_OFF = 1
REPLY_SKIP_NEXT = 2  # set by CLIENT REPLY SKIP: suppress this reply, then the next one
REPLY_SKIP = 3  # suppress the reply of the command now running


class ClientState:
    """What the server knows about one connection, independent of its transport."""

    __slots__ = (
        "addr",
        "authenticated",
        "blocked",
        "close",
        "created",
        "db",
        "exec_error",
        "fd",
        "id",
        "laddr",
        "last_command",
        "last_interaction",
        "lib_name",
        "lib_ver",
        "monitor",
        "multi",
        "name",
        "no_evict",
        "on_unblocked",
        "push",
        "qbuf",
        "reply_mode",
        "resp3",
        "script",
        "subs",
        "unix",
        "watch_dirty",
        "watched",
    )

    def __init__(
        self,
        client_id: int,
        addr: str = "",
        laddr: str = "",
        fd: int = -1,
        *,
        unix: bool = False,
        close: Callable[[], None] | None = None,
        on_unblocked: Callable[[object], None] | None = None,
        push: Callable[[bytes], None] | None = None,
    ) -> None:
        self.id = client_id
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.unix = unix  # connected through the Unix socket (flag U; local for protected mode)
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.resp3 = False
        self.script = False  # the client scripts' redis.call runs as (Redis's CLIENT_SCRIPT)
        self.authenticated = True
        self.multi: list[list[bytes]] | None = None  # queued commands while in MULTI
        self.exec_error = False  # a command queued in MULTI was rejected: EXEC will abort
        self.db = 0  # the selected database (SELECT)
        self.watched: set[tuple[int, bytes]] = set()  # (db, key)
        self.watch_dirty = False  # a watched key was modified: EXEC will fail
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_command = "NULL"
        self.qbuf = 0
        self.reply_mode = REPLY_ON  # CLIENT REPLY
        self.no_evict = False  # CLIENT NO-EVICT (flag e; kvserver never evicts clients)
        self.close: Callable[[], None] = close or _no_close  # QUIT, CLIENT KILL: the transport's
        self.blocked: Block | None = None  # waiting in BLPOP & co.
        # receives the reply that ends a block (the transport's, or a test's)
        self.on_unblocked: Callable[[object], None] = on_unblocked or _no_delivery
        self.subs: Subscriptions | None = None  # pub/sub subscriptions (None: not subscribed)
        self.monitor = False  # MONITOR: receives every command's line
        self.push: Callable[[bytes], None] = push or _no_push  # delivers messages and MONITOR lines

    def reply_suppressed(self) -> bool:
        """Whether the reply of the command that just ran is dropped (called while reply_mode is
        not ON); advances CLIENT REPLY SKIP's state as Redis does after each command."""
        mode = self.reply_mode
        if mode == REPLY_SKIP_NEXT:
            self.reply_mode = REPLY_SKIP
        elif mode == REPLY_SKIP:
            self.reply_mode = REPLY_ON
        return mode != REPLY_ON

    @property
    def kind(self) -> str:
        """CLIENT LIST / KILL TYPE: pubsub while subscribed, else normal (a monitor too; kvserver
        has no replicas)."""
        return "normal" if self.subs is None else "pubsub"

    def describe(self, running: list[bytes] | None = None) -> str:
        """One line of CLIENT LIST / CLIENT INFO, in Redis 7.0's field order. ``running``: the
        command this client is running now (CLIENT LIST's own), whose request is still in the
        query buffer and in argv-mem, as Redis shows it."""
        now = time.monotonic()
        qbuf, argv_mem = self.qbuf, 0
        if running is not None:
            argv_mem = sum(len(arg) for arg in running)
            # its RESP request: *<argc>\r\n then $<len>\r\n<arg>\r\n for each argument
            qbuf += len(str(len(running))) + 3 + sum(len(str(len(arg))) + len(arg) + 5 for arg in running)
        subs = self.subs
        flags = (
            ("O" if self.monitor else "")
            + ("P" if subs is not None else "")
            + ("x" if self.multi is not None else "")
            + ("b" if self.blocked is not None else "")
            + ("d" if self.watch_dirty else "")
            + ("U" if self.unix else "")
            + ("e" if self.no_evict else "")
        ) or "N"
        counts = "sub=0 psub=0 ssub=0"
        if subs is not None:
            counts = f"sub={len(subs.channels)} psub={len(subs.patterns)} ssub={len(subs.shard)}"
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
            f"name={self.name.decode('utf-8', 'replace')} age={int(now - self.created)} "
            f"idle={int(now - self.last_interaction)} flags={flags} db={self.db} {counts} "
            f"multi={len(self.multi) if self.multi is not None else -1} qbuf={qbuf} "
            f"qbuf-free=0 argv-mem={argv_mem} multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem={qbuf + argv_mem} "
            f"events=r cmd={self.last_command} user=default "
            f"redir=-1 resp={3 if self.resp3 else 2} "
            f"lib-name={self.lib_name.decode('utf-8', 'replace')} "
            f"lib-ver={self.lib_ver.decode('utf-8', 'replace')}"
        )


def _no_close() -> None:
    """A client with no transport (tests, log replay) has nothing to close."""


def _no_delivery(reply: object) -> None:
    """A client with no transport has nowhere to send a late reply."""


def _no_push(data: bytes) -> None:
    """A client with no transport has nowhere to send a message."""


class ClientRegistry:
    """The connected clients by id, and the id counter."""

    def __init__(self) -> None:
        self.by_id: dict[int, ClientState] = {}
        self._next_id = 1

    def new(self, addr: str = "", laddr: str = "", fd: int = -1) -> ClientState:
        return ClientState(self.take_id(), addr, laddr, fd)

    def take_id(self) -> int:
        """The next client id (a connection builds its ClientState with its transport's hooks)."""
        self._next_id += 1
        return self._next_id - 1

    def add(self, client: ClientState) -> None:
        self.by_id[client.id] = client

    def remove(self, client: ClientState) -> None:
        self.by_id.pop(client.id, None)

    def __len__(self) -> int:
        return len(self.by_id)


@dataclass(slots=True)
class Stats:
    """Server-wide counters reported by INFO stats."""

    started_monotonic: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    expired_keys: int = 0
    evicted_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    total_net_input_bytes: int = 0
    total_net_output_bytes: int = 0
    total_error_replies: int = 0


# sdscatrepr's escapes, by code point: the named ones, and \xNN for the other unprintable bytes
_REPR_NAMED: Final = {ord("\\"): "\\\\", ord('"'): '\\"', 10: "\\n", 13: "\\r", 9: "\\t", 7: "\\a", 8: "\\b"}
_REPR_TABLE: Final = {
    byte: _REPR_NAMED.get(byte, f"\\x{byte:02x}") for byte in range(256) if byte in _REPR_NAMED or not 32 <= byte < 127
}


def quote_repr(data: bytes) -> bytes:
    """``data`` quoted as Redis's sdscatrepr does (MONITOR's lines, the log's view of a client's
    bytes), with ``str.translate`` doing the per-byte work in C: 4 MB take ~30 ms printable,
    ~0.4 s binary."""
    if data.isalnum():  # the common case: nothing to escape (isalnum is ASCII-only on bytes)
        return b'"' + data + b'"'
    return b'"' + data.decode("latin-1").translate(_REPR_TABLE).encode("ascii") + b'"'


def quote_bytes(data: bytes) -> str:
    """``data`` quoted as Redis's sdscatrepr does, as text (for the log)."""
    return quote_repr(data).decode("ascii")
