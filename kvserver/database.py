"""Command execution: look a command up in the table, check it, run it, and log what it wrote.

``execute`` is the one entry point for client commands and for log replay. Handlers report each
write in canonical form through ``propagate``; this is the single place where writes reach the
log and where WATCHed keys are marked as modified. A MULTI/EXEC is one unit in the log.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Final, Protocol

from kvserver.commands import TABLE
from kvserver.commands.registry import NO_AUTH, READONLY, Block, CommandError, CommandSpec, arity_error
from kvserver.config import Config
from kvserver.keyspace import Keyspace, dump_key, wall_clock_ms
from kvserver.memory import MemoryMeter
from kvserver.monitoring import Monitoring
from kvserver.protocol import QUEUED, ErrorReply
from kvserver.pubsub import PubSub
from kvserver.state import ClientRegistry, ClientState, Stats

if TYPE_CHECKING:
    import asyncio

# Commands that run at once inside MULTI instead of being queued.
_RUN_IN_MULTI: Final = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Inside MULTI every other command is refused while over maxmemory (queueing takes memory).
_NEVER_OOM_IN_MULTI: Final = frozenset({"exec", "discard", "quit", "reset"})
NOAUTH: Final = ErrorReply(b"NOAUTH Authentication required.")
NOT_IN_MULTI: Final = ErrorReply(b"ERR Command not allowed inside a transaction")
OOM: Final = ErrorReply(b"OOM command not allowed when used memory > 'maxmemory'.")
# what a RESP2 client may send while subscribed to anything
_SUBSCRIBED_MODE: Final = frozenset(
    {"ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset"}
)
REPLICA_KEYSPACE: Final = ErrorReply(b"ERR Replica can't interact with the keyspace")

log = logging.getLogger("kvserver")
_reported: set[tuple[str, str, str]] = set()  # internal errors whose traceback was logged


def internal_error(name: str, argv: list[bytes], exc: Exception) -> ErrorReply:
    """The reply to a handler that raised something other than CommandError (a bug).

    The traceback is logged once per command and place, at warning level; of the client's data
    only the argument count and a short prefix of the first key go to the log.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    signature = (name, type(exc).__name__, where)
    if signature not in _reported:
        _reported.add(signature)
        prefix = argv[1][:32] if len(argv) > 1 else b""
        message = str(exc)
        log.warning(
            "Internal error in '%s' (%d args, first %r): %s: %s\n%s",
            name,
            len(argv) - 1,
            prefix,
            type(exc).__name__,
            message[:80] + ("..." if len(message) > 80 else ""),
            "".join(traceback.format_list(frames)).rstrip(),
        )
    return ErrorReply(b"ERR internal error executing '%s' (reported in the server log)" % name.encode())


class LogWriter(Protocol):
    """Where canonical write records go: the append-only log, or nowhere (appendonly no).

    The server calls ``attach`` once its loop runs, asks ``barrier`` before sending each reply
    batch, and is called back with the durable offset as fsyncs complete.
    """

    last_save: float
    rewrite_scheduled: bool

    @property
    def rewrite(self) -> object:
        """The rewrite in progress, or None."""

    def write(self, records: list[list[bytes]]) -> None:
        """Append one atomic unit (a command's records, or a whole transaction's)."""

    def barrier(self) -> int:
        """The log offset a reply sent now must wait for (0: it may go at once)."""

    def attach(self, loop: asyncio.AbstractEventLoop, on_durable: Callable[[int], None]) -> None: ...

    def cron(self) -> None:
        """Periodic work (everysec fsync, automatic rewrite), called hz times a second."""

    async def close(self) -> None:
        """Flush and fsync everything, then stop."""

    def info(self) -> dict[str, int | str]: ...

    def start_rewrite(self) -> str: ...

    def save(self) -> None:
        """SAVE: make everything durable now (then compact in the background)."""

    @property
    def refusal(self) -> ErrorReply | None:
        """The error every write gets while the log can't be written (MISCONF), else None."""


NOTHING_TO_SAVE = "ERR nothing to save to: appendonly is no and kvserver writes no RDB snapshot"


class NoPersistence:
    """appendonly no: a pure in-memory store."""

    refusal: ErrorReply | None = None
    rewrite: object = None
    rewrite_scheduled = False

    def __init__(self) -> None:
        self.last_save = time.time()

    def write(self, records: list[list[bytes]]) -> None:
        pass

    def barrier(self) -> int:
        return 0

    def attach(self, loop: asyncio.AbstractEventLoop, on_durable: Callable[[int], None]) -> None:
        pass

    def cron(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def info(self) -> dict[str, int | str]:
        return {
            "aof_enabled": 0,
            "aof_rewrite_in_progress": 0,
            "aof_rewrite_scheduled": 0,
            "aof_last_bgrewrite_status": "ok",
            "aof_last_write_status": "ok",
        }

    def start_rewrite(self) -> str:
        raise CommandError("ERR Append only file is disabled (appendonly no)")

    def save(self) -> None:
        raise CommandError(NOTHING_TO_SAVE)


def unknown_command(argv: list[bytes]) -> ErrorReply:
    """Redis's text: the name and the first arguments, quoted, at most about 128 bytes."""
    args = b""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'" + arg[: 128 - len(args)] + b"' "
    text = b"ERR unknown command '" + argv[0][:128] + b"', with args beginning with: " + args
    return ErrorReply(text.replace(b"\r", b" ").replace(b"\n", b" "))


def unknown_subcommand(argv: list[bytes]) -> ErrorReply:
    text = b"ERR unknown subcommand '%b'. Try %b HELP." % (argv[1][:128], argv[0].upper())
    return ErrorReply(text.replace(b"\r", b" ").replace(b"\n", b" "))


def _mode_refusal(client: ClientState, spec: CommandSpec) -> ErrorReply | None:
    """RESP2 subscribed mode allows only a few commands; a monitor may not touch the keyspace."""
    if client.subs is not None and not client.resp3 and spec.name not in _SUBSCRIBED_MODE:
        return ErrorReply(
            b"ERR Can't execute '%b': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
            b"in this context" % spec.name.encode()
        )
    if client.monitor and (spec.is_write or READONLY in spec.flags):
        return REPLICA_KEYSPACE
    return None


class Database:
    def __init__(
        self,
        config: Config | None = None,
        persistence: LogWriter | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        memory: MemoryMeter | None = None,
    ) -> None:
        self.config = config or Config()
        self.memory = memory or MemoryMeter()
        self.keyspace = Keyspace(clock)
        self.keyspace.on_expire = self._on_expire
        self.clients = ClientRegistry()
        self.stats = Stats()
        self.pubsub = PubSub()
        self.monitors = self.pubsub.monitors  # read for every command: empty costs one truth test
        self.monitoring = Monitoring(self._monitor_settings)
        self.monitoring.startup_memory = self.memory.used()
        self.persistence: LogWriter = persistence or NoPersistence()
        self.logging = True  # off while replaying the log
        self.watchers: dict[bytes, set[ClientState]] = {}
        self.shutdown_handler: Callable[[bool | None], str | None] | None = None
        self.config_listeners: list[Callable[[str], None]] = []
        self._unit: list[list[bytes]] | None = None
        # blocking commands: the clients waiting on each key, in arrival order, and the keys
        # pushed to since the last command (an insertion-ordered set)
        self.blocked: dict[bytes, deque[ClientState]] = {}
        self.ready_keys: dict[bytes, None] = {}
        # set during a log rewrite: called before a write command touches its keys
        self.before_write: Callable[[CommandSpec, list[bytes]], None] | None = None
        self._lookup: dict[bytes, CommandSpec] = {}
        for name, spec in TABLE.items():
            self._lookup[name.encode()] = spec
            self._lookup[name.upper().encode()] = spec

    # --- dispatch ------------------------------------------------------------------------------

    def resolve(self, argv: list[bytes]) -> CommandSpec | ErrorReply:
        """The spec that will run ``argv`` (a subcommand's for a container), or the error."""
        spec = self._lookup.get(argv[0])
        if spec is None:
            spec = self._lookup.get(argv[0].lower())
            if spec is None:
                return unknown_command(argv)
        if spec.subcommands and len(argv) >= 2:
            sub = spec.subcommands.get(argv[1].lower())
            if sub is None:
                return unknown_subcommand(argv)
            spec = sub
        if not spec.arity_ok(len(argv)):
            return ErrorReply(arity_error(spec.name).text.encode())
        return spec

    def execute(self, client: ClientState, argv: list[bytes]) -> object:
        """Run one client command with every check Redis makes, queueing it inside MULTI.

        The checks follow Redis's processCommand, in its order: existence and arity, auth,
        no-multi inside MULTI, memory (OOM), disk (MISCONF). A refused command inside MULTI
        marks the transaction, so EXEC answers EXECABORT.
        """
        spec = self.resolve(argv)
        if isinstance(spec, ErrorReply):
            return self._reject(client, spec, self._rejected_name(argv))
        if not client.authenticated and self.config.requirepass and NO_AUTH not in spec.flags:
            # as Redis's authRequired: with no password set, nobody needs to authenticate
            return self._reject(client, NOAUTH, spec.name)
        if client.subs is not None or client.monitor:
            refusal = _mode_refusal(client, spec)
            if refusal is not None:
                return self._reject(client, refusal, spec.name)
        if client.multi is not None:
            queued = self._in_multi(client, spec, argv)
            if queued is not None:
                return queued
        elif spec.guarded and (self.persistence.refusal is not None or self.config.maxmemory):
            refusal = self._refusal(spec)
            if refusal is not None:
                return self._reject(client, refusal, spec.name)
        reply = self._run(spec, client, argv)
        if self.ready_keys:
            self.serve_blocked()
        if type(reply) is Block:
            self._park(client, reply)
        return reply

    def _in_multi(self, client: ClientState, spec: CommandSpec, argv: list[bytes]) -> object | None:
        """A command sent after MULTI: refused (marking the transaction) or queued; None: run it now."""
        if spec.no_multi:
            return self._reject(client, NOT_IN_MULTI, spec.name)
        name = spec.name
        if name == "exec":
            refusal = self._exec_refusal(client)
            if refusal is not None:
                self.stats.total_error_replies += 1
                self.monitoring.rejected(name)
                self.monitoring.error(b"EXECABORT")
                client.multi = None
                client.exec_error = False
                self.unwatch(client)
                return ErrorReply(b"EXECABORT Transaction discarded because of: " + refusal)
        else:
            if self.config.maxmemory and name not in _NEVER_OOM_IN_MULTI and self._out_of_memory():
                # queueing takes memory too: Redis refuses any command in MULTI while over the limit
                return self._reject(client, OOM, name)
            refusal = self.persistence.refusal
            if refusal is not None and (spec.is_write or name == "ping"):
                return self._reject(client, refusal, name)  # at queue time, as Redis does
        if name in _RUN_IN_MULTI:
            return None
        assert client.multi is not None
        client.multi.append(argv)
        return QUEUED

    def _reject(self, client: ClientState, error: ErrorReply, name: str | None) -> ErrorReply:
        """Refuse a command before it runs; ``name``: the command refused (None: unknown)."""
        if client.multi is not None:
            client.exec_error = True
        self.stats.total_error_replies += 1
        self.monitoring.rejected(name)
        self.monitoring.error(error)
        return error

    def _rejected_name(self, argv: list[bytes]) -> str | None:
        """The command an arity error refuses (its rejected_calls count), None if unknown."""
        spec = self._lookup.get(argv[0].lower())
        if spec is not None and spec.subcommands:
            sub = spec.subcommands.get(argv[1].lower()) if len(argv) >= 2 else None
            return sub.name if sub is not None else (None if len(argv) >= 2 else spec.name)
        return None if spec is None else spec.name

    def _monitor_settings(self) -> tuple[int, int, int]:
        config = self.config
        return config.slowlog_log_slower_than, config.slowlog_max_len, config.latency_monitor_threshold

    def _refusal(self, spec: CommandSpec) -> ErrorReply | None:
        """OOM for a denyoom command over maxmemory (after evicting), MISCONF while the disk fails."""
        if spec.denyoom and self.config.maxmemory and self._out_of_memory():
            return OOM
        refusal = self.persistence.refusal
        if refusal is not None and (spec.is_write or spec.name == "ping"):
            return refusal
        return None

    def _exec_refusal(self, client: ClientState) -> ErrorReply | None:
        """EXEC is checked with the flags of what it queued, again at EXEC time, as in Redis."""
        queued = client.multi or ()
        refusal = self.persistence.refusal
        if not self.config.maxmemory and refusal is None:
            return None
        specs = [spec for argv in queued if isinstance(spec := self.resolve(argv), CommandSpec)]
        if self.config.maxmemory and any(spec.denyoom for spec in specs) and self._out_of_memory():
            return OOM
        if refusal is not None and any(spec.is_write for spec in specs):
            return refusal
        return None

    def _out_of_memory(self) -> bool:
        """Over maxmemory even after evicting what the policy allows."""
        return self.memory.over_limit(self)

    def call(self, client: ClientState, argv: list[bytes]) -> object:
        """Run a command already checked (a queued one, from EXEC)."""
        spec = self.resolve(argv)
        if isinstance(spec, ErrorReply):
            return spec
        return self._run(spec, client, argv)

    def _run(self, spec: CommandSpec, client: ClientState, argv: list[bytes]) -> object:
        self.stats.total_commands_processed += 1
        client.last_command = spec.name
        handler = spec.handler
        assert handler is not None
        start = perf_counter_ns()
        try:
            if self.before_write is not None and spec.is_write:
                self.before_write(spec, argv)
            reply = handler(self, client, argv)
        except CommandError as exc:
            reply = self._failed(spec, ErrorReply(exc.text.encode("utf-8", "surrogateescape")))
        except Exception as exc:  # a bug: the client gets an error, the server and EXEC go on
            if spec.is_write:
                self._relog_keys(spec, argv)
            reply = self._failed(spec, internal_error(spec.name, argv, exc))
        # the one timing hook: commandstats, latencystats, SLOWLOG and LATENCY (monitoring.py)
        self.monitoring.record(spec.name, spec.flags, perf_counter_ns() - start, argv, client)
        if self.monitors and not spec.admin:  # after the command, as Redis 7.0's call() feeds them
            origin = f"unix:{self.config.unixsocket}" if client.unix else client.addr
            self.pubsub.feed_monitors(0, origin, argv)
        return reply

    def _failed(self, spec: CommandSpec, error: ErrorReply) -> ErrorReply:
        self.stats.total_error_replies += 1
        self.monitoring.failed(spec.name)
        self.monitoring.error(error)
        return error

    def _relog_keys(self, spec: CommandSpec, argv: list[bytes]) -> None:
        """A write handler failed half-way: log its keys as they now are (whatever it changed or
        not), so that replaying the log still gives this keyspace."""
        ks = self.keyspace
        for key in spec.keys(argv):
            value = ks.data.get(key)
            self.propagate([b"DEL", key], [key])
            if value is not None:
                for record in dump_key(ks, key, value):
                    self.propagate(record, [key])

    # --- writes --------------------------------------------------------------------------------

    def propagate(self, argv: list[bytes], touched: list[bytes] | None = None) -> None:
        """Record a write in canonical form: to the log, and to the clients WATCHing its keys."""
        if self._unit is not None:
            self._unit.append(argv)
        elif self.logging:
            self.persistence.write([argv])
        if self.watchers:
            self._touch_watched(argv if touched is None else None, touched)

    def begin_unit(self) -> None:
        self._unit = []

    def end_unit(self) -> None:
        records, self._unit = self._unit, None
        if records and self.logging:
            self.persistence.write(records)

    @property
    def in_transaction(self) -> bool:
        return self._unit is not None

    def _on_expire(self, key: bytes) -> None:
        self.stats.expired_keys += 1
        self.propagate([b"DEL", key])

    def flush_all(self) -> None:
        ks = self.keyspace
        for key, watching in self.watchers.items():
            if key in ks.data:
                for client in watching:
                    client.watch_dirty = True
        ks.clear()
        self.propagate([b"FLUSHALL"])

    # --- WATCH ---------------------------------------------------------------------------------

    def watch(self, client: ClientState, key: bytes) -> None:
        self.watchers.setdefault(key, set()).add(client)
        client.watched.add(key)

    def unwatch(self, client: ClientState) -> None:
        for key in client.watched:
            watching = self.watchers.get(key)
            if watching is not None:
                watching.discard(client)
                if not watching:
                    del self.watchers[key]
        client.watched.clear()
        client.watch_dirty = False

    def _touch_watched(self, argv: list[bytes] | None, touched: Iterable[bytes] | None) -> None:
        if touched is None:
            assert argv is not None
            spec = self.resolve(argv)
            touched = spec.keys(argv) if isinstance(spec, CommandSpec) else ()
        for key in touched:
            for client in self.watchers.get(key, ()):
                client.watch_dirty = True

    # --- blocking commands -----------------------------------------------------------------------
    # A blocking command that finds nothing to pop returns a Block; the client is parked on its
    # keys. A push signals the key; after the command that pushed (after the whole EXEC), the
    # waiters on each signalled key are served in arrival order while the list has elements.
    # The connection owns the timeout and delivers the late reply.

    def signal_ready(self, key: bytes) -> None:
        if key in self.blocked:
            self.ready_keys[key] = None

    def serve_blocked(self) -> None:
        while self.ready_keys:
            key = next(iter(self.ready_keys))
            del self.ready_keys[key]
            waiters = self.blocked.get(key)
            while waiters:
                client = waiters[0]
                block = client.blocked
                assert block is not None
                if self.before_write is not None:  # a rewrite is running: dump the keys first
                    spec = self.resolve(block.argv)
                    assert isinstance(spec, CommandSpec)
                    self.before_write(spec, block.argv)
                try:
                    reply = block.serve(self, client, key)
                except CommandError as exc:
                    reply = ErrorReply(exc.text.encode())
                except Exception as exc:  # a bug: answer the waiter, keep serving the others
                    reply = internal_error(block.argv[0].decode("ascii", "replace").lower(), block.argv, exc)
                if reply is None:
                    break
                self.unblock(client, reply)

    def _park(self, client: ClientState, block: Block) -> None:
        client.blocked = block
        for key in block.keys:
            self.blocked.setdefault(key, deque()).append(client)

    def unpark(self, client: ClientState) -> None:
        """Forget a waiting client without answering it (it is closing)."""
        block, client.blocked = client.blocked, None
        if block is None:
            return
        for key in block.keys:
            waiters = self.blocked.get(key)
            if waiters is not None:
                waiters.remove(client)
                if not waiters:
                    del self.blocked[key]

    def unblock(self, client: ClientState, reply: object) -> bool:
        """End a client's wait with ``reply`` (served, timed out, CLIENT UNBLOCK); False if not blocked."""
        if client.blocked is None:
            return False
        self.unpark(client)
        client.on_unblocked(reply)
        return True

    # --- clients and server --------------------------------------------------------------------

    def client_closed(self, client: ClientState) -> None:
        self.pubsub.drop(client)
        self.unpark(client)
        self.unwatch(client)
        self.clients.remove(client)

    def request_shutdown(self, save: bool | None) -> str | None:
        if self.shutdown_handler is None:
            return "ERR Errors trying to SHUTDOWN. Check logs."
        return self.shutdown_handler(save)

    def config_changed(self, name: str) -> None:
        if name.startswith(("slowlog-", "latency-monitor")):
            self.monitoring.reconfigure()
        for listener in self.config_listeners:
            listener(name)
