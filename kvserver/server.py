"""The asyncio side: one Protocol per connection, reply batching, the durability barrier, the cron.

Per read: feed the bytes to the sans-IO parser, execute every complete command, encode all the
replies into one list and write it once. With ``appendfsync always`` a batch that follows
unsynced log bytes is held until the fsync covering them completes (group commit): while one
fsync runs in a thread, the loop keeps reading and executing, and the next fsync covers every
client that wrote meanwhile. Held replies are released in order, per connection and overall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Final, cast

from kvserver.commands.registry import Block
from kvserver.config import Config
from kvserver.database import Database
from kvserver.protocol import RequestParser, encode_reply
from kvserver.state import ClientState

log = logging.getLogger("kvserver")

MAX_CLIENTS_REPLY: Final = b"-ERR max number of clients reached\r\n"
EXPIRE_SLICE_SECONDS: Final = 0.001  # one slice of active expiry; the loop polls I/O between slices
EXPIRE_BATCH: Final = 200


class Connection(asyncio.Protocol):
    """One client connection: parse, execute, reply."""

    __slots__ = ("block_timer", "closing", "db", "held", "local", "parser", "pending", "server", "state", "transport")

    def __init__(self, server: Server, local: str = "") -> None:
        self.server = server
        self.local = local  # a Unix socket client: "path:0", its addr and laddr
        self.db = server.db
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser()
        self.state: ClientState | None = None
        self.closing = False
        self.held = 0  # reply batches waiting on the durability barrier
        self.pending: list[list[bytes]] = []  # commands parsed behind a blocking command
        self.block_timer: asyncio.TimerHandle | None = None

    # --- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports aren't subclasses
        self.transport = transport
        db = self.db
        db.stats.total_connections_received += 1
        if len(db.clients) >= db.config.maxclients:
            db.stats.rejected_connections += 1
            transport.write(MAX_CLIENTS_REPLY)
            transport.close()
            self.closing = True
            return
        sock_obj = transport.get_extra_info("socket")
        fd = sock_obj.fileno() if sock_obj else -1
        if self.local:
            state = db.clients.new(self.local, self.local, fd)
            state.unix = True
        else:
            peer = transport.get_extra_info("peername")
            sock = transport.get_extra_info("sockname")
            state = db.clients.new(_addr(peer), _addr(sock), fd)
        state.authenticated = not db.config.requirepass
        state.close = self.close_after_reply
        state.on_unblocked = self.unblocked
        db.clients.add(state)
        self.state = state
        self.parser = RequestParser(db.config.proto_max_bulk_len, not state.authenticated)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if self.closing or state is None:
            return
        self.db.stats.total_net_input_bytes += len(data)
        self.parser.feed(data)
        state.last_interaction = time.monotonic()
        if state.blocked is None:  # a blocked client's commands wait in the buffer, as in Redis
            self._serve(state)

    def _serve(self, state: ClientState) -> None:
        """Run what is buffered and send the replies as one batch."""
        out: list[bytes] = []
        self._execute_all(state, out)
        state.qbuf = self.parser.buffered
        if out or self.closing:
            self.server.send(self, b"".join(out))

    def _execute_all(self, state: ClientState, out: list[bytes]) -> None:
        """Run every complete command and encode the replies; a protocol error ends the batch.

        A command that blocks stops the batch: the commands after it wait in ``pending``.
        """
        parser = self.parser
        execute = self.db.execute
        while True:
            resumed = bool(self.pending)
            if resumed:
                commands, self.pending = self.pending, []
            else:
                commands = parser.commands()
                if not commands:
                    break
            for i, argv in enumerate(commands):
                reply = execute(state, argv)
                if type(reply) is Block:
                    self.pending = commands[i + 1 :]
                    self._blocked(reply)
                    return
                encode_reply(reply, state.resp3, out)
                if self.closing:
                    return
            if resumed:
                continue  # then the commands that arrived while blocked
            if not parser.auth_required:
                break
            # AUTH lifts the tighter limits, and so does CONFIG SET requirepass "" (Redis's authRequired)
            parser.auth_required = not state.authenticated and bool(self.db.config.requirepass)
        if parser.error is not None:
            out.append(b"-ERR %b\r\n" % str(parser.error).encode())
            self.closing = True

    # --- blocking commands ---------------------------------------------------------------------

    def _blocked(self, block: Block) -> None:
        if block.timeout > 0:
            self.block_timer = asyncio.get_running_loop().call_later(block.timeout, self._block_timed_out)

    def _block_timed_out(self) -> None:
        self.block_timer = None
        state = self.state
        if state is not None and state.blocked is not None:
            self.db.unblock(state, state.blocked.timeout_reply)

    def unblocked(self, reply: object) -> None:
        """The database ended this client's wait: send the reply, then go on with its commands."""
        if self.block_timer is not None:
            self.block_timer.cancel()
            self.block_timer = None
        state = self.state
        if state is None or self.closing:
            return
        self.server.send(self, encode_reply(reply, state.resp3))
        asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        state = self.state
        if not self.closing and state is not None and state.blocked is None:
            self._serve(state)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.block_timer is not None:
            self.block_timer.cancel()
        self.server.connections.discard(self)
        if self.state is not None:
            self.db.client_closed(self.state)

    def pause_writing(self) -> None:
        # the client isn't reading its replies: stop reading its commands until it catches up
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
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


def _addr(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address or "")


class Server:
    """Listens, owns the connections, runs the cron, and orders replies behind the log."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
        self.connections: set[Connection] = set()
        self._held: deque[tuple[int, Connection, bytes]] = deque()
        self._listener: asyncio.base_events.Server | None = None
        self._unix_listener: asyncio.base_events.Server | None = None
        self._stopped: asyncio.Event | None = None
        self._cron_task: asyncio.Task[None] | None = None
        self._expiring = False
        self._cron_failures: dict[str, str] = {}  # step -> the failure last logged for it
        self.port = config.port
        db.shutdown_handler = self.request_shutdown

    # --- replies and durability ----------------------------------------------------------------

    def send(self, conn: Connection, data: bytes) -> None:
        """Write a batch now, or hold it until the log bytes it may depend on are durable."""
        barrier = self.db.persistence.barrier()
        if barrier or conn.held:
            conn.held += 1
            self._held.append((barrier, conn, data))
        else:
            conn.write_now(data)

    def release(self, durable_offset: int) -> None:
        """Called by the log when everything up to ``durable_offset`` is on disk."""
        held = self._held
        while held and held[0][0] <= durable_offset:
            _, conn, data = held.popleft()
            conn.held -= 1
            conn.write_now(data)

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def tcp(self) -> bool:
        """Listening on TCP: ``port 0`` means none when a Unix socket is set (as in Redis), else
        a free port chosen by the OS (kvserver's, for tests)."""
        return bool(self.config.port or not self.config.unixsocket)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if not self.tcp:
            return
        hosts = self.config.bind.split()
        self._listener = await loop.create_server(
            lambda: Connection(self),
            hosts if len(hosts) > 1 else hosts[0],
            self.config.port,
            reuse_address=True,
            backlog=511,
        )
        sockets = self._listener.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def start_unix(self) -> None:
        """Listen on ``unixsocket`` too (a stale socket file is removed first, as Redis does)."""
        path = self.config.unixsocket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        local = f"{path}:0"  # CLIENT LIST's addr and laddr of a Unix socket client, as Redis's
        self._unix_listener = await asyncio.get_running_loop().create_unix_server(
            lambda: Connection(self, local), path, backlog=511
        )
        if self.config.unixsocketperm:
            os.chmod(path, self.config.unixsocketperm)

    def _remove_unix_socket(self) -> None:
        if self._unix_listener is not None:
            self._unix_listener.close()
            self._unix_listener = None
            log.info("Removing the unix socket file.")
            with contextlib.suppress(OSError):
                os.unlink(self.config.unixsocket)

    def start_cron(self) -> None:
        self._cron_task = asyncio.get_running_loop().create_task(self._cron())

    def stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._remove_unix_socket()

    async def serve_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        assert self._stopped is not None
        await self._stopped.wait()
        await self._shutdown()

    def _on_signal(self, signum: int) -> None:
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        log.warning("Received %s scheduling shutdown...", name)
        self.request_shutdown(None)

    def request_shutdown(self, save: bool | None) -> str | None:
        if self._stopped is None:
            return "ERR Errors trying to SHUTDOWN. Check logs."
        log.warning("User requested shutdown...")
        self._stopped.set()
        return None

    async def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._remove_unix_socket()
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
            if not self._expiring:
                self._cron_step("active expiry", self._expire_slice)
            if self.config.timeout:
                self._cron_step("client timeouts", self._close_idle_clients)
            self._cron_step("AOF periodic work", self.db.persistence.cron)

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
        """Remove expired keys for about a millisecond, then yield to I/O and continue."""
        keyspace = self.db.keyspace
        self._expiring = False  # a slice that raises is started again by the next cron round
        stop = time.perf_counter() + EXPIRE_SLICE_SECONDS
        while keyspace.purge_expired(keyspace.clock(), EXPIRE_BATCH) == EXPIRE_BATCH:
            if time.perf_counter() >= stop:
                self._expiring = True
                asyncio.get_running_loop().call_soon(self._cron_step, "active expiry", self._expire_slice)
                return

    def _close_idle_clients(self) -> None:
        limit = time.monotonic() - self.config.timeout
        for conn in list(self.connections):
            state = conn.state
            if state is not None and state.last_interaction < limit and state.multi is None and state.blocked is None:
                conn.close_after_reply()


async def run(config: Config, db: Database, load: Callable[[], bool] | None = None) -> int:
    """Bind, then ``load`` the data (False: abort), then serve until SHUTDOWN or a signal.

    The port is bound before the log is replayed, so a second server fails before it reads the
    log; connections made during the replay wait in the listen backlog (the loop is busy
    replaying) and are served once it is done.
    """
    server = Server(config, db)
    try:
        await server.start()
    except OSError as exc:
        log.warning("Failed listening on port %s (tcp), aborting: %s", config.port, exc.strerror)
        return 1
    if config.unixsocket:
        try:
            await server.start_unix()
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


__all__ = ["Connection", "Server", "run"]
