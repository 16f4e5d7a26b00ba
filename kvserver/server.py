"""The asyncio side: one Protocol per connection, reply batching, the durability barrier, the cron.

Per read: feed the bytes to the sans-IO parser, execute every complete command, encode all the
replies into one list and write it once. A batch that follows log bytes not yet durable (with
``everysec``, not yet written; with ``always``, not yet fsynced) is held until they are: the log
writes once per loop iteration, so one write and one fsync cover every client that wrote in it
(group commit). Held replies are released in order, per connection and overall.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import select
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Final, cast

from kvserver.blocking import Block
from kvserver.collector import Collector
from kvserver.commands.registry import ALLOW_BUSY, CommandError
from kvserver.commands.scripting import SLOW_EVAL, SLOW_FUNCTION, running_script
from kvserver.config import Config
from kvserver.database import Database
from kvserver.protocol import ErrorReply, Pushes, RequestParser, encode_into, encode_reply
from kvserver.pubsub import output_limit_exceeded
from kvserver.state import ClientState, quote_bytes

log = logging.getLogger("kvserver")

MAX_CLIENTS_REPLY: Final = b"-ERR max number of clients reached\r\n"
# Redis 7.0's text, word for word (networking.c, clientAcceptHandler)
DENIED_REPLY: Final = (
    b"-DENIED Redis is running in protected mode because protected "
    b"mode is enabled and no password is set for the default user. "
    b"In this mode connections are only accepted from the loopback interface. "
    b"If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: "
    b"1) Just disable protected mode sending the command "
    b"'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is "
    b"running, however MAKE SURE Redis is not publicly accessible "
    b"from internet if you do so. Use CONFIG REWRITE to make this "
    b"change permanent. "
    b"2) Alternatively you can just disable the protected mode by "
    b"editing the Redis configuration file, and setting the protected "
    b"mode option to 'no', and then restarting the server. "
    b"3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. "
    b"4) Setup a an authentication password for the default user. "
    b"NOTE: You only need to do one of the above things in order for "
    b"the server to start accepting connections from the outside.\r\n"
)
# Redis compares the peer's address text with exactly these: 127.0.0.2 is "remote" to it
LOOPBACK_ADDRESSES: Final = ("127.0.0.1", "::1")
# A blocked client's commands wait in its buffer; past this much we stop reading it (TCP then
# holds the rest on its side), and read again once it is unblocked and has caught up.
BLOCKED_READ_LIMIT: Final = 1024 * 1024
RESERVED_FDS: Final = 32  # Redis's CONFIG_MIN_RESERVED_FDS: the log, the listeners, the log file
ACCEPT_BATCH: Final = 1000  # Redis's MAX_ACCEPTS_PER_CALL
ACCEPT_RETRY_DELAY: Final = 0.1  # after an accept failed for want of descriptors
ACCEPT_ERROR_LOG_INTERVAL: Final = 1.0
_PAUSED_BY_OUTPUT: Final = 1  # the client doesn't read its replies
_PAUSED_BY_BLOCK: Final = 2  # the client is blocked with a large buffer
EXPIRE_SLICE_SECONDS: Final = 0.0007  # one slice of active expiry; the loop polls I/O between slices
EXPIRE_BATCH: Final = 50  # slots of the keys with a deadline looked at per batch (then the clock is read)
EXPIRE_WALK: Final = 2000  # slots walked per cron tick at least (about 0.2 ms): a round of 1M in 50 s
BUSY_POLL_INTERVAL: Final = 0.005  # how often a busy script's hook polls the clients


class Connection:
    """One client connection: parse, execute, reply.

    The loop's protocol by its methods (``connection_made``, ``data_received``, ...), as asyncio
    and uvloop take one, not by subclassing ``asyncio.Protocol``: a plain class compiles to a
    native class (setup.py), whose attributes are struct fields and whose calls are C calls.
    """

    __slots__ = (
        "block_timer",
        "closing",
        "db",
        "held",
        "local",
        "out",
        "parser",
        "paused",
        "pending",
        "pending_at",
        "server",
        "soft_since",
        "state",
        "trailer",
        "transport",
    )

    def __init__(self, server: Server, local: str = "", adopt: tuple[ClientState, RequestParser] | None = None) -> None:
        self.server = server
        self.local = local  # a Unix socket client: "path:0", its addr and laddr
        self.db = server.db
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser()
        self.state: ClientState | None = None
        self.closing = False
        self.held = 0  # reply batches waiting on the durability barrier
        # commands parsed behind a blocking command: pending[pending_at:] (0: none), so resuming
        # after each of many pipelined blocking commands doesn't copy the rest of the list
        self.pending: list[list[bytes]] = []
        self.pending_at = 0
        self.block_timer: asyncio.TimerHandle | None = None
        self.paused = 0  # why reading is paused: _PAUSED_BY_OUTPUT | _PAUSED_BY_BLOCK
        self.out: list[bytes] | None = None  # the reply batch being built (messages to self join it)
        self.trailer: list[bytes] = []  # MONITOR lines of this client's own command, after its reply
        self.soft_since = 0.0  # when the output went over the soft limit of its class (0: it is under)
        if adopt is not None:  # accepted while a script was busy: its client and parser go on
            self.state, self.parser = adopt

    # --- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports aren't subclasses
        self.transport = transport
        self.server.unmade -= 1
        db = self.db
        state = self.state
        if state is not None:  # adopted (accepted while a script was busy): checked and counted then
            state.close, state.on_unblocked, state.push = self.close_after_reply, self.unblocked, self.push
            self.server.connections.add(self)
            return
        config = db.config
        peer = transport.get_extra_info("peername")
        refusal = None
        if len(db.clients) >= config.maxclients:
            refusal = MAX_CLIENTS_REPLY
        elif (
            config.protected_mode
            and not config.requirepass
            and not self.local  # a Unix socket client is local, as in Redis
            and _host(peer) not in LOOPBACK_ADDRESSES
        ):
            refusal = DENIED_REPLY
        if refusal is not None:
            db.stats.rejected_connections += 1
            transport.write(refusal)
            transport.close()
            self.closing = True
            return
        db.stats.total_connections_received += 1
        sock_obj = transport.get_extra_info("socket")
        fd = sock_obj.fileno() if sock_obj else -1
        local = self.local
        addr, laddr = (local, local) if local else (_addr(peer), _addr(transport.get_extra_info("sockname")))
        state = ClientState(
            db.clients.take_id(),
            addr,
            laddr,
            fd,
            unix=bool(local),
            close=self.close_after_reply,
            on_unblocked=self.unblocked,
            push=self.push,
        )
        state.authenticated = not config.requirepass
        db.clients.add(state)
        self.state = state
        self.parser = RequestParser(config.proto_max_bulk_len, not state.authenticated)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if self.closing or state is None:
            return
        self.db.stats.total_net_input_bytes += len(data)
        buffered = self.parser.feed(data)  # 0 unless the read joined earlier input
        state.last_interaction = time.monotonic()
        if buffered and buffered > self.db.config.client_query_buffer_limit:
            self._query_buffer_full(state, buffered)
        elif state.blocked is None:
            self._serve(state)
        else:  # a blocked client's commands wait in the buffer, as in Redis
            state.qbuf = self.parser.buffered
            if state.qbuf > BLOCKED_READ_LIMIT:
                self._pause(_PAUSED_BY_BLOCK)

    def _query_buffer_full(self, state: ClientState, buffered: int) -> None:
        state.qbuf = buffered
        log.warning(
            "Closing client that reached max query buffer length: %s (qbuf initial bytes: %s)",
            state.describe(),
            quote_bytes(self.parser.head(64)),
        )
        self.closing = True
        self.db.unpark(state)
        if self.transport is not None:
            self.transport.close()

    def _serve(self, state: ClientState) -> None:
        """Run what is buffered and send the replies as one batch."""
        out: list[bytes] = []
        self.out = out
        try:
            self._execute_all(state, out)
        finally:
            self.out = None
        state.qbuf = self.parser.buffered
        server = self.server
        if out or self.closing:
            server.send(self, b"".join(out))
        if server.pushes:  # messages this batch published go out behind its replies
            server.flush_pushes()

    def push(self, data: bytes) -> None:
        """A message or MONITOR line for this client, delivered after the replies of the batch
        that produced it and behind the same durability barrier."""
        if self.out is not None:  # this client published it: it goes before the command's reply
            if data[:1] == b"+":  # a MONITOR line, fed after the command: after its reply, as in Redis
                self.trailer.append(data)
            else:
                self.out.append(data)
        elif not self.closing:
            self.server.queue_push(self, data)

    def _execute_all(self, state: ClientState, out: list[bytes]) -> None:
        """Run every complete command and encode the replies; a protocol error ends the batch.

        A command that blocks stops the batch: the commands after it wait in ``pending``.
        """
        parser = self.parser
        db = self.db  # (its method called on it: compiled, a direct C call, not a bound method's)
        trailer = self.trailer
        while True:
            start = self.pending_at
            if start:
                commands = self.pending
                self.pending = []
                self.pending_at = 0
            else:
                commands = parser.commands()
                if not commands:
                    break
            i = start
            for argv in islice(commands, start, None) if start else commands:
                i += 1
                reply = db.execute(state, argv)
                if type(reply) is Block:
                    if i < len(commands):
                        self.pending = commands
                        self.pending_at = i
                    self._blocked(state)
                    return
                # CLIENT REPLY OFF|SKIP drop a reply, not pub/sub's confirmations (as Redis)
                if not state.reply_mode or not state.reply_suppressed() or type(reply) is Pushes:
                    encode_into(reply, out, state.resp3)
                if trailer or self.closing:
                    if trailer:  # this client is a monitor: its own command's line follows the reply
                        out += trailer
                        trailer.clear()
                    if self.closing:
                        return
            if start:
                continue  # then the commands that arrived while blocked
            if not parser.auth_required:
                break
            # AUTH lifts the tighter limits, and so does CONFIG SET requirepass "" (Redis's authRequired)
            parser.auth_required = not state.authenticated and bool(self.db.config.requirepass)
        if parser.error is not None:
            encode_reply(ErrorReply(b"ERR " + str(parser.error).encode()), state.resp3, out)
            self.closing = True

    # --- blocking commands ---------------------------------------------------------------------

    def _blocked(self, state: ClientState) -> None:
        """The client was parked (kvserver.blocking): the timer is set from its deadline."""
        deadline = self.db.deadline(state)
        if deadline is not None:
            delay = max(deadline - time.monotonic(), 0.0)
            self.block_timer = asyncio.get_running_loop().call_later(delay, self._block_timed_out)

    def _block_timed_out(self) -> None:
        self.block_timer = None
        state = self.state
        if state is not None:
            self.db.time_out(state)

    def unblocked(self, reply: object) -> None:
        """The database ended this client's wait: send the reply, then go on with its commands."""
        if self.block_timer is not None:
            self.block_timer.cancel()
            self.block_timer = None
        state = self.state
        if state is None or self.closing:
            return
        if not state.reply_mode or not state.reply_suppressed():
            self.server.send(self, encode_reply(reply, state.resp3))
        asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        state = self.state
        if not self.closing and state is not None and state.blocked is None:
            self._serve(state)
            self._read_again_if_caught_up(state)

    def _read_again_if_caught_up(self, state: ClientState) -> None:
        # the serve may have blocked again on a pipelined blocking command, buffer still large
        if state.blocked is None or state.qbuf <= BLOCKED_READ_LIMIT:
            self._unpause(_PAUSED_BY_BLOCK)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.block_timer is not None:
            self.block_timer.cancel()
        self.server.connections.discard(self)
        if self.state is not None:
            self.db.client_closed(self.state)

    def eof_received(self) -> bool | None:
        return None  # asyncio.Protocol's answer: the transport closes (a half-closed client is gone)

    def pause_writing(self) -> None:
        # the client isn't reading its replies: stop reading its commands until it catches up
        self._pause(_PAUSED_BY_OUTPUT)

    def resume_writing(self) -> None:
        self._unpause(_PAUSED_BY_OUTPUT)

    def _pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self.paused |= reason

    def _unpause(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # --- output --------------------------------------------------------------------------------

    def write_now(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data:
            self.db.stats.total_net_output_bytes += len(data)
            transport.write(data)
        if self.closing:
            transport.close()

    def close_after_reply(self) -> None:
        """QUIT, CLIENT KILL, idle timeout: the pending replies go out, then the socket closes."""
        self.closing = True
        if self.state is not None:
            self.db.unpark(self.state)  # a closing client must not be served (and lose) a popped element
        # after the current batch (whose replies are queued first): an empty batch that closes
        asyncio.get_running_loop().call_soon(self.server.send, self, b"")


class _Newcomer:
    """A client accepted while a script was busy, until it becomes a ``Connection``."""

    __slots__ = ("closing", "local", "parser", "sock", "state")

    def __init__(self, sock: socket.socket, local: str, state: ClientState, parser: RequestParser) -> None:
        self.sock = sock
        self.local = local
        self.state = state
        self.parser = parser
        self.closing = False
        state.close = self.close  # QUIT while still busy

    def close(self) -> None:
        self.closing = True


def _read_now(fd: int) -> bytes | None:
    """What a socket has to read now: b"" at its end or on an error, None if nothing yet."""
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _host(address: object) -> str:
    """The peer's IP address as text (what protected mode compares)."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address or "")


def _addr(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address or "")


def adjust_open_files_limit(config: Config) -> None:
    """Raise the soft RLIMIT_NOFILE to ``maxclients`` + 32, or lower ``maxclients`` to fit, as
    Redis's adjustOpenFilesLimit does (same search, same log lines). Without this, the clients
    beyond the descriptor limit were accepted and dropped with no reply."""
    wanted = config.maxclients + RESERVED_FDS
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError) as exc:
        log.warning(
            "Unable to obtain the current NOFILE limit (%s), assuming 1024 and setting the max clients "
            "configuration accordingly.",
            exc,
        )
        config.maxclients = 1024 - RESERVED_FDS
        return
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    keep_hard = hard if hard == resource.RLIM_INFINITY else 0
    best = wanted
    error = 0
    while best > soft:  # try the wanted limit, then 16 fewer at a time
        try:
            # Redis sets the hard limit to the same value; keeping a higher one changes nothing
            # about which values succeed and leaves room for a later CONFIG SET maxclients
            resource.setrlimit(resource.RLIMIT_NOFILE, (best, keep_hard or max(best, hard)))
            break
        except (OSError, ValueError) as exc:
            error = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EPERM
        if best < 16:
            best = soft
            break
        best -= 16
    best = max(best, soft)
    if best >= wanted:
        log.info("Increased maximum number of open files to %d (it was originally set to %d).", wanted, soft)
        return
    requested = config.maxclients
    if best <= RESERVED_FDS:
        log.warning(
            "Your current 'ulimit -n' of %d is not enough for the server to start. "
            "Please increase your open file limit to at least %d. Exiting.",
            soft,
            wanted,
        )
        raise SystemExit(1)
    config.maxclients = best - RESERVED_FDS
    log.warning("You requested maxclients of %d requiring at least %d max file descriptors.", requested, wanted)
    log.warning("Server can't set maximum open files to %d because of OS error: %s.", wanted, os.strerror(error))
    log.warning(
        "Current maximum open files is %d. maxclients has been reduced to %d to compensate for low ulimit. "
        "If you need higher maxclients increase 'ulimit -n'.",
        best,
        config.maxclients,
    )


def listen(hosts: list[str], port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of ``hosts``."""
    socks: list[socket.socket] = []
    try:
        for host in hosts:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(511)
                sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class Lifecycle:
    """The server's side of the server <-> database cycle, made before either (the database's
    ``ServerControl``): SHUTDOWN sets its stop event, CONFIG SET maxclients is checked here."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopped: asyncio.Event | None = None  # set up when the server starts
        self.maxclients = config.maxclients  # what a refused CONFIG SET maxclients restores
        self.busy: Callable[[], None] | None = None  # the server's busy serving (Server.serve_while_busy)

    def start(self) -> asyncio.Event:
        adjust_open_files_limit(self.config)
        self.maxclients = self.config.maxclients
        self.stopped = asyncio.Event()
        return self.stopped

    def request_shutdown(self, save: bool | None) -> str | None:
        if self.stopped is None:
            return "ERR Errors trying to SHUTDOWN. Check logs."
        log.warning("User requested shutdown...")
        self.stopped.set()
        return None

    def serve_while_busy(self) -> None:
        """A script is past busy-reply-threshold (called from its instruction hook)."""
        if self.busy is not None:
            self.busy()

    def config_changed(self, name: str) -> None:
        """CONFIG SET maxclients: raise the descriptor limit to match, or refuse as Redis does."""
        if name != "maxclients":
            return
        config = self.config
        requested = config.maxclients
        adjust_open_files_limit(config)
        if config.maxclients != requested:
            possible, config.maxclients = config.maxclients, self.maxclients
            raise CommandError(
                "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not "
                f"able to handle the specified number of clients, try with {possible}"
            )
        self.maxclients = requested


class Server:
    """Listens, owns the connections, runs the cron, and orders replies behind the log."""

    def __init__(self, config: Config, db: Database, lifecycle: Lifecycle | None = None) -> None:
        self.config = config
        self.db = db
        # the database's ``server`` (SHUTDOWN reaches it); a test's bare Database has none
        self.lifecycle = lifecycle or Lifecycle(config)
        self.connections: set[Connection] = set()
        self._held: deque[tuple[int, Connection, bytes]] = deque()
        self._listeners: list[socket.socket] = []
        self._unix_listener: socket.socket | None = None  # the unixsocket listener, also in _listeners
        self._connecting: set[asyncio.Task[None]] = set()
        self.unmade = 0  # accepted sockets whose connection_made hasn't run: they count as clients
        self._accept_error_logged = -ACCEPT_ERROR_LOG_INTERVAL
        self._cron_task: asyncio.Task[None] | None = None
        self._expiring = False
        self._cron_failures: dict[str, str] = {}  # step -> the failure last logged for it
        self.port = config.port
        self.pushes: dict[Connection, list[bytes]] = {}  # messages waiting for the end of the batch
        self.lifecycle.busy = self.serve_while_busy
        self._busy_next = 0.0  # the next poll while a script is busy
        self._newcomers: dict[int, _Newcomer] = {}  # accepted while a script was busy, by fd
        self.collector = Collector(lambda: db.stats.total_net_input_bytes)  # full GCs when idle

    # --- replies and durability ----------------------------------------------------------------

    def send(self, conn: Connection, data: bytes) -> None:
        """Write a batch now, or hold it until the log bytes it may depend on are durable."""
        barrier = self.db.persistence.hold
        if barrier or conn.held:
            conn.held += 1
            self._held.append((barrier, conn, data))
        else:
            conn.write_now(data)

    def release(self, durable_offset: int) -> None:
        """Called by the log when everything up to ``durable_offset`` is on disk."""
        held = self._held
        if held and held[-1][0] <= durable_offset:  # all of them (every flush, with everysec)
            self._held = deque()  # a batch sent meanwhile queues behind these
            for _, conn, data in held:
                conn.held -= 1
                conn.write_now(data)
            return
        while held and held[0][0] <= durable_offset:
            _, conn, data = held.popleft()
            conn.held -= 1
            conn.write_now(data)

    # --- pub/sub and MONITOR delivery ------------------------------------------------------------

    def queue_push(self, conn: Connection, data: bytes) -> None:
        queued = self.pushes.get(conn)
        if queued is not None:
            queued.append(data)
            return
        if not self.pushes:  # published outside a client's batch (a timer): flushed soon
            asyncio.get_running_loop().call_soon(self.flush_pushes)
        self.pushes[conn] = [data]

    def flush_pushes(self) -> None:
        pushes, self.pushes = self.pushes, {}
        for conn, parts in pushes.items():
            if not conn.closing:
                self.send(conn, b"".join(parts))
                self._check_output_limit(conn)

    def _check_output_limit(self, conn: Connection) -> None:
        """client-output-buffer-limit: a subscriber (class pubsub) or a monitor (normal) whose
        unread output passes the hard limit, or the soft one for long enough, is closed."""
        state, transport = conn.state, conn.transport
        if state is None or transport is None:
            return
        limits = self.config.client_output_buffer_limit["pubsub" if state.subs is not None else "normal"]
        over, conn.soft_since = output_limit_exceeded(
            limits, transport.get_write_buffer_size(), time.monotonic(), conn.soft_since
        )
        if over:
            log.warning(
                "Client %s scheduled to be closed ASAP for overcoming of output buffer limits.", state.describe()
            )
            conn.closing = True
            self.db.unpark(state)
            transport.abort()  # what it hasn't read is dropped with it, as Redis frees the client

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.lifecycle.start()
        if not self.tcp:
            self.port = 0
            return
        self._listeners = listen(self.config.bind.split(), self.config.port)
        for sock in self._listeners:
            loop.add_reader(sock.fileno(), self._accept, sock)
        self.port = self._listeners[0].getsockname()[1]

    @property
    def tcp(self) -> bool:
        """Listening on TCP: ``port 0`` means none when a Unix socket is set (as in Redis), else
        a free port chosen by the OS (kvserver's, for tests)."""
        return bool(self.config.port or not self.config.unixsocket)

    def start_unix(self) -> None:
        """Listen on ``unixsocket`` too (a stale socket file is removed first, as Redis does)."""
        path = self.config.unixsocket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            if self.config.unixsocketperm:
                os.chmod(path, self.config.unixsocketperm)
            sock.listen(511)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._unix_listener = sock
        self._listeners.append(sock)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept, sock)

    def start_cron(self) -> None:
        self.collector.start()
        self._cron_task = asyncio.get_running_loop().create_task(self._cron())

    def stop_listening(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._listeners:
            if sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
                sock.close()
        if self._unix_listener is not None:
            self._unix_listener = None
            log.info("Removing the unix socket file.")
            with contextlib.suppress(OSError):
                os.unlink(self.config.unixsocket)

    # --- while a script is busy -----------------------------------------------------------------
    # A script past busy-reply-threshold calls this from its instruction hook, inside the event
    # loop's callback that runs it, as Redis's processEventsWhileBlocked: the other clients' sockets
    # and the listeners are polled without waiting, what they sent is read and parsed by their own
    # parser, and each complete command gets -BUSY, or runs if Redis allows it then (SCRIPT KILL,
    # FUNCTION KILL/STATS, SHUTDOWN NOSAVE, AUTH, HELLO, MULTI...). A client accepted meanwhile
    # becomes a normal connection once the script has ended.

    def serve_while_busy(self) -> None:
        now = time.monotonic()
        if now < self._busy_next:
            return
        self._busy_next = now + BUSY_POLL_INTERVAL
        conns = {
            conn.state.fd: conn
            for conn in self.connections
            if conn.state is not None
            and conn.state.fd >= 0
            and conn.out is None  # (the script's caller is the one executing now)
            and not conn.closing
            and not conn.paused
            and conn.state.blocked is None
        }
        listeners = {sock.fileno(): sock for sock in self._listeners if sock.fileno() >= 0}
        poller = select.poll()
        for fd in (*conns, *listeners, *self._newcomers):
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(0):
            if fd in listeners:
                self._accept_while_busy(listeners[fd])
            elif fd in conns:
                conn = conns[fd]
                data = _read_now(fd)
                if data and conn.state is not None and conn.transport is not None:
                    conn.parser.feed(data)
                    replies = self._busy_replies(conn.state, conn.parser)
                    if replies:
                        conn.transport.write(replies)
            elif fd in self._newcomers:
                newcomer = self._newcomers[fd]
                data = _read_now(fd)
                if data:
                    newcomer.parser.feed(data)
                    replies = self._busy_replies(newcomer.state, newcomer.parser)
                    with contextlib.suppress(OSError):
                        newcomer.sock.sendall(replies)
                if data == b"" or newcomer.closing:  # gone, or QUIT: it never becomes a connection
                    del self._newcomers[fd]
                    self.unmade -= 1
                    self.db.client_closed(newcomer.state)
                    newcomer.sock.close()

    def _busy_replies(self, state: ClientState, parser: RequestParser) -> bytes:
        out: list[bytes] = []
        for argv in parser.commands():
            encode_reply(self._busy_reply(state, argv), state.resp3, out)
        if parser.error is not None:
            encode_reply(ErrorReply(b"ERR " + str(parser.error).encode()), state.resp3, out)
        return b"".join(out)

    def _busy_reply(self, state: ClientState, argv: list[bytes]) -> object:
        db = self.db
        run = running_script(db)
        spec = db.resolve(argv)
        if run is None or isinstance(spec, ErrorReply):
            return db.execute(state, argv)  # (the script ended in between, or the error as usual)
        nosave = spec.name == "shutdown" and any(arg.lower() == b"nosave" for arg in argv[1:])
        if ALLOW_BUSY not in spec.flags or (spec.name == "shutdown" and not nosave):
            busy = (SLOW_EVAL if run.eval_mode else SLOW_FUNCTION).encode()
            db.stats.total_error_replies += 1
            if state.multi is not None:
                state.exec_error = True
                if spec.name == "exec":  # as Redis's rejectCommand: the transaction is discarded
                    state.multi = None
                    state.exec_error = False
                    db.unwatch(state)
                    return ErrorReply(b"EXECABORT Transaction discarded because of: " + busy)
            return ErrorReply(busy)
        if nosave:
            # the script never ends: its writes are dropped with the process, never logged
            run.killed = True
            db.abandon_unit()
        return db.execute(state, argv)

    def _accept_while_busy(self, sock: socket.socket) -> None:
        db = self.db
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            if len(db.clients) + self.unmade >= self.config.maxclients:
                db.stats.rejected_connections += 1
                with contextlib.suppress(OSError):
                    conn.send(MAX_CLIENTS_REPLY)
                conn.close()
                continue
            local = f"{self.config.unixsocket}:0" if sock is self._unix_listener else ""
            addr, laddr = (local, local) if local else (_addr(peer), _addr(conn.getsockname()))
            state = ClientState(db.clients.take_id(), addr, laddr, conn.fileno(), unix=bool(local))
            state.authenticated = not self.config.requirepass
            db.clients.add(state)
            db.stats.total_connections_received += 1
            parser = RequestParser(self.config.proto_max_bulk_len, not state.authenticated)
            conn.setblocking(True)  # a BUSY reply is small: sent whole, then non-blocking again
            conn.settimeout(1.0)
            if not self._newcomers:
                asyncio.get_running_loop().call_soon(self._adopt_newcomers)  # after the script
            self._newcomers[conn.fileno()] = _Newcomer(conn, local, state, parser)
            self.unmade += 1

    def _adopt_newcomers(self) -> None:
        loop = asyncio.get_running_loop()
        newcomers, self._newcomers = self._newcomers, {}
        for newcomer in newcomers.values():
            newcomer.sock.setblocking(False)
            task = loop.create_task(self._connect(newcomer.sock, newcomer.local, (newcomer.state, newcomer.parser)))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    # --- accepting -----------------------------------------------------------------------------
    # Our own accept loop rather than the event loop's: libuv answers EMFILE by accepting and
    # closing every queued connection, silently. Here the clients beyond maxclients get Redis's
    # error at once, and an accept that fails for want of descriptors is logged (once a second)
    # and retried a little later, the queued clients waiting in the backlog meanwhile.

    def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        db = self.db
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._accept_failed(sock, exc)
                return
            if len(db.clients) + self.unmade >= self.config.maxclients:
                db.stats.rejected_connections += 1
                with contextlib.suppress(OSError):
                    conn.send(MAX_CLIENTS_REPLY)  # best effort, as in Redis
                conn.close()
                continue
            conn.setblocking(False)
            self.unmade += 1
            # CLIENT LIST's addr and laddr of a Unix socket client, as Redis's
            local = f"{self.config.unixsocket}:0" if sock is self._unix_listener else ""
            task = loop.create_task(self._connect(conn, local))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(
        self, conn: socket.socket, local: str, adopt: tuple[ClientState, RequestParser] | None = None
    ) -> None:
        protocol = Connection(self, local, adopt)
        try:
            factory = cast("Callable[[], asyncio.Protocol]", lambda: protocol)  # a protocol by its methods
            await asyncio.get_running_loop().connect_accepted_socket(factory, conn)
        except OSError as exc:
            log.debug("Error accepting a client connection: %s", exc.strerror)
            if protocol.transport is None:  # connection_made never ran
                self.unmade -= 1
                if adopt is not None:
                    self.db.client_closed(adopt[0])

    def _accept_failed(self, sock: socket.socket, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._accept_error_logged >= ACCEPT_ERROR_LOG_INTERVAL:
            self._accept_error_logged = now
            log.warning("Accepting client connection: accept: %s", exc.strerror)
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            # nothing frees up by retrying at once: stop watching the socket for a while
            loop = asyncio.get_running_loop()
            loop.remove_reader(sock.fileno())
            loop.call_later(ACCEPT_RETRY_DELAY, self._accept_again, sock)

    def _accept_again(self, sock: socket.socket) -> None:
        stopped = self.lifecycle.stopped
        if sock.fileno() >= 0 and stopped is not None and not stopped.is_set():
            asyncio.get_running_loop().add_reader(sock.fileno(), self._accept, sock)

    async def serve_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        stopped = self.lifecycle.stopped
        assert stopped is not None
        await stopped.wait()
        await self._shutdown()

    def _on_signal(self, signum: int) -> None:
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        log.warning("Received %s scheduling shutdown...", name)
        self.request_shutdown(None)

    def request_shutdown(self, save: bool | None) -> str | None:
        return self.lifecycle.request_shutdown(save)

    async def _shutdown(self) -> None:
        self.stop_listening()
        if self._cron_task is not None:
            self._cron_task.cancel()
        await self.db.persistence.close()
        self.release(1 << 62)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        log.warning("kvserver is now ready to exit, bye bye...")

    # --- background work -----------------------------------------------------------------------

    async def _cron(self) -> None:
        """Runs ``hz`` times a second: active expiry, client timeouts, the log's periodic work.

        Each step is isolated: one that raises is logged (once per distinct failure, until it
        succeeds again) and the others, and the next rounds, still run.
        """
        while True:
            await asyncio.sleep(1 / self.config.hz)
            stamp = int(time.monotonic())  # the access times' clock (OBJECT IDLETIME), 1 s steps as Redis's
            for slot in self.db.dbs.values():
                slot.keyspace.stamp = stamp
            if not self._expiring:
                self._cron_step("active expiry", self._expire_slice)
            if self.config.timeout:
                self._cron_step("client timeouts", self._close_idle_clients)
            self._cron_step("AOF periodic work", self.db.persistence.cron)
            self._cron_step("garbage collection", self.collector.tick)

    def _cron_step(self, name: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # one failing step must not stop the others
            failure = f"{type(exc).__name__}: {exc}"
            if self._cron_failures.get(name) != failure:
                self._cron_failures[name] = failure
                log.warning("Error in the background task (%s): %s; it will be retried", name, failure)
        else:
            if self._cron_failures.pop(name, None) is not None:
                log.warning("The background task (%s) works again", name)

    def _expire_slice(self) -> None:
        """Remove expired keys for EXPIRE_SLICE_SECONDS, then yield to I/O and continue: every
        database with deadlines in turn (each expiry is logged in its own database)."""
        db = self.db
        self._expiring = False  # a slice that raises is started again by the next cron round
        stop = time.perf_counter() + EXPIRE_SLICE_SECONDS
        selected = db.index
        try:
            for index, slot in list(db.dbs.items()):
                keyspace = slot.keyspace
                keyspace.maintain()  # a long compaction finishes even without removals
                if not keyspace.expires:
                    continue
                db.use(index)
                walked = 0
                while True:
                    removed = keyspace.purge_expired(keyspace.clock(), EXPIRE_BATCH)
                    walked += EXPIRE_BATCH
                    if removed <= EXPIRE_BATCH // 10 and walked >= min(EXPIRE_WALK, len(keyspace.volatile)):
                        break  # Redis's cycle: a tenth or less was due (and the minimum walk is done)
                    if time.perf_counter() >= stop:
                        self._expiring = True
                        asyncio.get_running_loop().call_soon(self._cron_step, "active expiry", self._expire_slice)
                        return
        finally:
            db.use(selected)

    def _close_idle_clients(self) -> None:
        limit = time.monotonic() - self.config.timeout
        for conn in list(self.connections):
            state = conn.state
            if state is None or state.last_interaction >= limit or state.multi is not None:
                continue
            # as Redis, blocked clients, subscribers and monitors are never idle
            if state.blocked is None and state.subs is None and not state.monitor:
                conn.close_after_reply()


async def run(
    config: Config, db: Database, load: Callable[[], bool] | None = None, lifecycle: Lifecycle | None = None
) -> int:
    """Bind, then ``load`` the data (False: abort), then serve until SHUTDOWN or a signal.

    The port is bound before the log is replayed, so a second server fails before it reads the
    log; connections made during the replay wait in the listen backlog (the loop is busy
    replaying) and are served once it is done.
    """
    server = Server(config, db, lifecycle)
    try:
        await server.start()
    except OSError as exc:
        log.warning("Failed listening on port %s (tcp), aborting: %s", config.port, exc.strerror)
        return 1
    if config.unixsocket:
        try:
            server.start_unix()
        except OSError as exc:
            log.warning("Failed opening Unix socket: %s", exc.strerror)
            server.stop_listening()
            return 1
    log.info("Running mode=standalone, port=%d.", server.port)
    log.info("Server initialized")
    if load is not None and not load():
        server.stop_listening()
        return 1
    db.persistence.attach(asyncio.get_running_loop(), server.release)
    server.start_cron()
    if server.tcp:
        log.info("Ready to accept connections tcp")
    if config.unixsocket:
        log.info("Ready to accept connections unix")
        log.info("The server is now ready to accept connections at %s", config.unixsocket)
    await server.serve_until_stopped()
    return 0


__all__ = ["Connection", "Lifecycle", "Server", "run"]
