"""Command execution: look a command up in the table, check it, run it, and log what it wrote.

``execute`` is the one entry point for client commands and for log replay. Handlers report each
write in canonical form through ``propagate``; this is the single place where writes reach the
log. A MULTI/EXEC is one unit in the log.

The change signal's layer above the keyspace: the keyspace announces what it stores and removes
itself; a handler that changes a value in place only calls ``propagate``, and after it returns
the dispatcher announces the command's keys (from the spec it already resolved), with the
command's name as the event. Before a write command runs, its keys are announced as being
written (the rewrite's copy-on-write). WATCH (``transactions.Watches``) and the blocked clients
(``blocking.Blocking``) subscribe to the keyspace while they have someone to serve.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from functools import partial
from time import perf_counter_ns
from typing import TYPE_CHECKING, Final, Protocol

from kvserver.blocking import Block, Blocking, Waiter
from kvserver.commands import TABLE
from kvserver.commands.registry import NO_AUTH, READONLY, SKIP_MONITOR, CommandError, CommandSpec, Context, arity_error
from kvserver.config import Config
from kvserver.keyspace import KeyListener, Keyspace, dump_key, wall_clock_ms
from kvserver.memory import MemoryMeter
from kvserver.monitoring import Monitoring
from kvserver.native import mypyc_attr
from kvserver.notifications import Notifications
from kvserver.protocol import ErrorReply
from kvserver.pubsub import PubSub
from kvserver.state import ClientRegistry, ClientState, Stats
from kvserver.transactions import RUN_IN_MULTI, Watches, queue

if TYPE_CHECKING:
    import asyncio

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
    hold: int  # what ``barrier()`` returns now, as an attribute (read once per reply batch)

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


@mypyc_attr(allow_interpreted_subclasses=True)
class NoPersistence:
    """appendonly no: a pure in-memory store."""

    refusal: ErrorReply | None = None
    rewrite: object = None
    rewrite_scheduled = False
    hold = 0

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


_NOTHING_RUNNING: Final = CommandSpec("", 1, frozenset(), 0, 0, 0, "", "", "", "", None)  # no keys


class ServerControl(Protocol):
    """What the database asks of the server that runs it (SHUTDOWN, CONFIG SET side effects)."""

    def request_shutdown(self, save: bool | None) -> str | None:
        """Stop the server (None), or the error text SHUTDOWN answers."""

    def config_changed(self, name: str) -> None:
        """CONFIG SET changed ``name``; raise CommandError to refuse the new value."""


class Slot:
    """One database: its keyspace and what listens to it (blocked clients, notifications)."""

    __slots__ = ("blocking", "index", "keyspace", "notifications")

    def __init__(self, index: int, keyspace: Keyspace, blocking: Blocking, notifications: Notifications) -> None:
        self.index = index
        self.keyspace = keyspace
        self.blocking = blocking
        self.notifications = notifications


class Database:
    # the selected database's pieces (``use``)
    index: int
    keyspace: Keyspace
    blocking: Blocking
    notifications: Notifications
    _listeners: list[KeyListener]

    def __init__(
        self,
        config: Config | None = None,
        persistence: LogWriter | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        memory: MemoryMeter | None = None,
        server: ServerControl | None = None,
    ) -> None:
        self.config = config or Config()
        self.memory = memory or MemoryMeter()
        self._clock = clock
        self.clients = ClientRegistry()
        self.stats = Stats()
        self.pubsub = PubSub()
        # commands/scripting.py's script cache, made on first use (declared: a compiled Database has no __dict__)
        self._scripts: object = None
        self.monitors = self.pubsub.monitors  # read for every command: empty costs one truth test
        self.monitoring = Monitoring(self._monitor_settings)
        self.monitoring.startup_memory = self.memory.used()
        self.persistence: LogWriter = persistence or NoPersistence()
        self.server = server
        self.logging = True  # off while replaying the log
        self.loading = False  # replaying: a database created now starts loading too
        self._unit: list[list[bytes]] | None = None
        self._unit_db: int | None = None  # the logged database when the open unit began
        # the write command running now: ``propagate`` announces its keys
        self._running: CommandSpec = _NOTHING_RUNNING
        self._running_argv: list[bytes] = []
        # the databases created so far (an unused one costs nothing), and the selected one, whose
        # pieces are also attributes here (one attribute load on the per-command path)
        self.dbs: dict[int, Slot] = {}
        # the databases with keys ready for their blocked clients, served after each command (as
        # Redis's server-wide ready_keys): empty costs the per-command path one truth test
        self._ready_dbs: dict[int, None] = {}
        self.watches = Watches(self.keyspace_of)
        # the database of the last record logged (None: unknown, the next unit starts with SELECT)
        self._logged_db: int | None = 0
        self.index = -1
        self.use(0)
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
        spec = self._lookup.get(argv[0])  # resolve's common case inline: a plain command, as sent
        if spec is None or spec.subcommands or not (len(argv) == spec.arity or 0 > spec.arity >= -len(argv)):
            resolved = self.resolve(argv)
            if isinstance(resolved, ErrorReply):
                return self._reject(client, resolved, self._rejected_name(argv))
            spec = resolved
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
        if self._ready_dbs:
            self.serve_ready()
        if type(reply) is Block:
            self.park(client, reply, spec)
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
                self.watches.discard(client)
                return ErrorReply(b"EXECABORT Transaction discarded because of: " + refusal)
        else:
            if self.config.maxmemory and name not in _NEVER_OOM_IN_MULTI and self._out_of_memory():
                # queueing takes memory too: Redis refuses any command in MULTI while over the limit
                return self._reject(client, OOM, name)
            refusal = self.persistence.refusal
            if refusal is not None and (spec.is_write or name == "ping"):
                return self._reject(client, refusal, name)  # at queue time, as Redis does
        if name in RUN_IN_MULTI:
            return None
        return queue(client, argv)

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
        if client.db != self.index:
            self.use(client.db)
        self.stats.total_commands_processed += 1
        client.last_command = spec.name
        handler = spec.handler
        assert handler is not None
        start = perf_counter_ns()
        try:
            if spec.is_write and self._listeners:  # (no write command subscribes anyone)
                self._writing(spec, argv)
            reply = handler(self, client, argv)
        except CommandError as exc:
            reply = self._failed(spec, ErrorReply(exc.text.encode("utf-8", "surrogateescape")), exc.counted)
        except Exception as bug:  # the client gets an error, the server and EXEC go on
            if spec.is_write:
                self._relog_keys(spec, argv)  # which announces its keys too
            reply = self._failed(spec, internal_error(spec.name, argv, bug))
        # the one timing hook: commandstats, latencystats, SLOWLOG and LATENCY (monitoring.py)
        self.monitoring.record(spec.name, spec.flags, perf_counter_ns() - start, argv, client)
        # after the command, as Redis 7.0's call() feeds them (EVAL & co. feed their own line first)
        if self.monitors and not spec.admin and SKIP_MONITOR not in spec.flags:
            origin = f"unix:{self.config.unixsocket}" if client.unix else client.addr
            self.pubsub.feed_monitors(client.db, origin, argv)  # after SELECT: the new one, as Redis
        return reply

    def _failed(self, spec: CommandSpec, error: ErrorReply, counted: bool = False) -> ErrorReply:
        self.monitoring.failed(spec.name)
        if not counted:
            self.stats.total_error_replies += 1
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
        """Record a write in canonical form, to the log.

        The keys it changed are announced on the change signal: ``touched`` when given (then
        only those), else the running command's keys, with its name as the event.
        """
        if self.index != self._logged_db and self.logging:
            self._log_with_select(argv)
        elif self._unit is not None:
            self._unit.append(argv)
        elif self.logging:
            self.persistence.write([argv])
        if self._listeners:
            ks = self.keyspace
            if touched is None:
                spec = self._running
                for key in spec.keys(self._running_argv):
                    ks.changed(spec.name, key)
            else:
                for key in touched:
                    ks.changed(argv[0].decode("ascii", "replace").lower(), key)

    def _log_with_select(self, argv: list[bytes]) -> None:
        """As Redis's AOF: a record in another database than the last one logged is preceded by
        a SELECT, in the same unit (a torn tail keeps both or neither)."""
        self._logged_db = self.index
        select = [b"SELECT", b"%d" % self.index]
        if self._unit is not None:
            self._unit += (select, argv)
        else:
            self.persistence.write([select, argv])

    def forget_logged_db(self) -> None:
        """The log's reader may not know the database now (after a replay, at a rewrite's
        start): the next record is preceded by a SELECT.

        Inside an open unit (BGREWRITEAOF, BGSAVE or SAVE in MULTI) the unit's earlier records
        were written knowing the database: the unit, carried whole into the new log, now starts
        with a SELECT of the database it began in."""
        unit = self._unit
        if unit and self._unit_db is not None and unit[0][0] != b"SELECT":
            unit.insert(0, [b"SELECT", b"%d" % self._unit_db])
        self._logged_db = None

    def _writing(self, spec: CommandSpec, argv: list[bytes]) -> None:
        """Before a write command: announce its keys (the rewrite dumps them first), and note
        whose keys ``propagate`` announces."""
        self._running = spec
        self._running_argv = argv
        ks = self.keyspace
        for key in spec.keys(argv):
            ks.writing(key)

    def begin_unit(self) -> None:
        self._unit = []
        self._unit_db = self._logged_db  # where a record without a SELECT in front of it lands

    def end_unit(self) -> None:
        records, self._unit = self._unit, None
        if records and self.logging:
            self.persistence.write(records)

    def abandon_unit(self) -> None:
        """Drop the open unit unlogged (SHUTDOWN NOSAVE while a script runs: Redis exits before
        the script's writes are propagated)."""
        self._unit = None
        self.logging = False  # and nothing after it either: the server is going down

    @property
    def in_transaction(self) -> bool:
        return self._unit is not None

    def _on_expire(self, keyspace: Keyspace, key: bytes) -> None:
        """``keyspace`` expired ``key``: a DEL logged in the database that holds that keyspace
        now (after SWAPDB too), which need not be the selected one (MOVE's or COPY ... DB's
        lookup of the target)."""
        self.stats.expired_keys += 1
        if keyspace is self.keyspace:
            self.propagate([b"DEL", key], [])  # the keyspace announces the expiry itself
            return
        owner = next((i for i, slot in self.dbs.items() if slot.keyspace is keyspace), self.index)
        selected = self.index
        self.use(owner)
        try:
            self.propagate([b"DEL", key], [])
        finally:
            self.use(selected)

    def flush_all(self, every_db: bool = True) -> None:
        """FLUSHALL (every database) or FLUSHDB (the selected one)."""
        if every_db:
            for slot in self.dbs.values():
                if slot is not self.dbs[self.index]:
                    slot.keyspace.clear()
        self.keyspace.clear()  # announces ``flushed`` to the listeners, before the keys go
        self.propagate([b"FLUSHALL" if every_db else b"FLUSHDB"], [])

    # --- databases -----------------------------------------------------------------------------

    def slot(self, index: int) -> Slot:
        """Database ``index``, created on first use."""
        slot = self.dbs.get(index)
        if slot is None:
            keyspace = Keyspace(self._clock)
            keyspace.on_expire = partial(self._on_expire, keyspace)
            keyspace.track_frequency("lfu" in self.config.maxmemory_policy)
            if self.loading:
                keyspace.start_loading()
            notifications = Notifications(keyspace, self.pubsub, lambda: self._running_argv, db=index)
            notifications.configure(self.config.notify_keyspace_events)
            blocking = Blocking(keyspace, on_ready=partial(self._ready_dbs.__setitem__, index, None))
            slot = self.dbs[index] = Slot(index, keyspace, blocking, notifications)
        return slot

    def keyspace_of(self, index: int) -> Keyspace:
        return self.slot(index).keyspace

    def use(self, index: int) -> None:
        """Make database ``index`` the one commands run on (the client's, before each command)."""
        slot = self.slot(index)
        self.index = index
        self.keyspace = slot.keyspace
        self._listeners = slot.keyspace.listeners  # the same list: one attribute load per test
        self.blocking = slot.blocking
        self.notifications = slot.notifications

    def serve_db(self, index: int) -> None:
        """Serve the clients blocked in database ``index`` whose keys are ready now."""
        slot = self.slot(index)
        if not slot.blocking.ready:
            return
        selected = self.index
        self.use(index)
        try:
            self.serve_blocked()
        finally:
            self.use(selected)

    def serve_ready(self) -> None:
        """After a command (a whole EXEC): serve every database that has ready keys, whichever
        it wrote in (MOVE, COPY ... DB, SWAPDB, an EXEC that selected several)."""
        ready = self._ready_dbs
        while ready:
            index = next(iter(ready))
            del ready[index]
            self.serve_db(index)

    def swap_dbs(self, first: int, second: int) -> None:
        """SWAPDB: the keyspaces change places; the clients blocked, the watches and the
        notifications stay with their database number, and hear of their new keyspace.

        The waited keys the new keyspaces hold are only marked ready: they are served after the
        SWAPDB record is logged (after the command, ``serve_ready``), else replay would pop them
        before the swap."""
        a, b = self.slot(first), self.slot(second)
        a.keyspace, b.keyspace = b.keyspace, a.keyspace
        for slot in (a, b):
            slot.notifications.retarget(slot.keyspace)
            slot.blocking.retarget(slot.keyspace)
        self.watches.swapped(first, second)
        # a rewrite's DbDump stays with its keyspace object and the database it had at the start:
        # it dumps the keyspace as of then, and the carried SWAPDB moves it on replay
        self.use(self.index)

    def keyspaces(self) -> list[tuple[int, Keyspace]]:
        """The databases that hold keys, in index order (INFO keyspace, the rewrite, export)."""
        return [(i, slot.keyspace) for i, slot in sorted(self.dbs.items()) if len(slot.keyspace)]

    # --- WATCH ---------------------------------------------------------------------------------

    def watch(self, client: ClientState, key: bytes) -> None:
        self.watches.watch(client, key, self.index)

    def expire_watched(self, client: ClientState) -> None:
        """Look up every watched key in its own database: one that expired since is a change."""
        index = self.index
        for db, key in client.watched:
            if db != index:
                self.use(db)
                index = db
            self.keyspace.get(key)
        if index != client.db:
            self.use(client.db)

    def unwatch(self, client: ClientState) -> None:
        self.watches.unwatch(client)

    # --- blocking commands -----------------------------------------------------------------------
    # A blocking command that finds nothing returns a Block and the client is parked on its keys
    # (kvserver.blocking). The keyspace's change signal marks a key ready; after the command that
    # wrote it (after the whole EXEC) its waiters are served in arrival order. The connection
    # sets its timer from the deadline ``park`` returns, and delivers the late reply.

    def park(self, client: ClientState, block: Block, spec: CommandSpec | None = None) -> float | None:
        """Park ``client`` (its command is ``spec``); its deadline (``time.monotonic``), or None."""
        return self.blocking.park(client, block, spec)

    def serve_blocked(self) -> None:
        self.blocking.serve(self, self._serving, None, self._serve_failed)

    def _serving(self, written: object, block: Block) -> None:
        """A waiter's serve is a write of its blocking command: announced as one."""
        if isinstance(written, CommandSpec) and self.keyspace.listeners:
            self._writing(written, block.argv)

    def _serve_failed(self, client: Waiter, exc: Exception) -> object:
        if isinstance(exc, CommandError):  # (a blocked XREADGROUP whose group or stream went)
            error = ErrorReply(exc.text.encode())
            self.stats.total_error_replies += 1
            self.monitoring.error(error)
            if client.blocked is not None:
                self.monitoring.failed(client.blocked.argv[0].decode("ascii", "replace").lower())
            return error
        block = client.blocked  # a bug: answer the waiter, keep serving the others
        argv = block.argv if block is not None else [b"?"]
        return internal_error(argv[0].decode("ascii", "replace").lower(), argv, exc)

    # A client is parked in the Blocking of the database it blocked in (its selected one, which
    # it can't change while blocked).

    def unpark(self, client: ClientState) -> None:
        """Forget a waiting client without answering it (it is closing)."""
        if client.blocked is not None:
            self.slot(client.db).blocking.unpark(client)

    def unblock(self, client: ClientState, reply: object) -> bool:
        """End a client's wait with ``reply`` (served, timed out, CLIENT UNBLOCK); False if not blocked."""
        return client.blocked is not None and self.slot(client.db).blocking.unblock(client, reply)

    def time_out(self, client: ClientState) -> bool:
        """The client's deadline passed: it gets its blocking command's timeout reply."""
        return client.blocked is not None and self.slot(client.db).blocking.time_out(client)

    def deadline(self, client: ClientState) -> float | None:
        """When the client's wait ends (``time.monotonic``), or None."""
        return self.slot(client.db).blocking.deadline(client)

    # --- clients and server --------------------------------------------------------------------

    def client_closed(self, client: ClientState) -> None:
        self.pubsub.drop(client)
        self.unpark(client)
        self.unwatch(client)
        self.clients.remove(client)

    def request_shutdown(self, save: bool | None) -> str | None:
        if self.server is None:
            return "ERR Errors trying to SHUTDOWN. Check logs."
        return self.server.request_shutdown(save)

    def serve_while_busy(self) -> None:
        """Called from inside a script past busy-reply-threshold: the server answers the other
        clients (BUSY, or the few commands Redis allows then), and returns."""
        serve = getattr(self.server, "serve_while_busy", None)  # (a ServerControl may lack it)
        if serve is not None:
            serve()

    def config_changed(self, name: str) -> None:
        if name.startswith(("slowlog-", "latency-monitor")):
            self.monitoring.reconfigure()
        elif name == "notify-keyspace-events":
            for slot in self.dbs.values():
                slot.notifications.configure(self.config.notify_keyspace_events)
        elif name == "maxmemory-policy":  # OBJECT FREQ / IDLETIME: which access data is kept
            for slot in self.dbs.values():
                slot.keyspace.track_frequency("lfu" in self.config.maxmemory_policy)
        if self.server is not None:
            self.server.config_changed(name)


def _static_checks() -> None:
    """mypy proves here that the dispatcher is what the handlers are typed against."""
    _: Context = Database()
