"""A small built-in RESP client (sync and asyncio) on kvserver's sans-IO codec, so the session
library needs no redis-py. One connection sends a batch of commands and reads their replies;
a pool hands each operation its own connection (WATCH state belongs to a connection).

This module is the library's one user of ``kvserver.protocol`` (the codec); the rest of
``client`` gets ``ErrorReply`` and ``NullArray`` from here.

Recovery (docs/sessions.md, "Connections and errors"):
* every connect and every read is bounded by the endpoint's ``timeout`` (``StoreTimeout``);
* a pooled connection the server has closed (a restart) is noticed before it is handed out;
* pools are bounded (``max_connections``: a caller waits up to ``timeout`` for a free one);
* the asyncio client uses plain non-blocking sockets, not streams, so its connections belong
  to no event loop: one ``AsyncSessionStore`` serves every loop (``asyncio.run`` per test,
  threads with their own loops);
* socket errors become ``StoreUnavailable`` / ``StoreTimeout``, error replies ``ResponseError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from kvserver.protocol import NEED_DATA, ErrorReply, NullArray, encode_command
from kvserver.reply_parser import ReplyParser
from kvsession.errors import ResponseError, StoreTimeout, StoreUnavailable

__all__ = ["ErrorReply", "NullArray", "ResponseError"]

READ_SIZE: Final = 1 << 16
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_CONNECTIONS: Final = 64


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect, parsed from ``redis://[[user]:password@]host[:port][/db]``."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    timeout: float | None = DEFAULT_TIMEOUT

    @classmethod
    def from_url(cls, url: str, timeout: float | None = DEFAULT_TIMEOUT) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "valkey", "valkeys"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use redis:// or rediss://")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive (or None for no limit), got {timeout!r}")
        path = parts.path.strip("/")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(path) if path else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme in ("rediss", "valkeys"),
            timeout=timeout,
        )

    def handshake(self) -> list[tuple[bytes | str, ...]]:
        """The commands a new connection sends first."""
        commands: list[tuple[bytes | str, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", str(self.db)))
        return commands

    def failure(self, exc: BaseException) -> StoreUnavailable:
        """The library's error for a socket error on this endpoint."""
        where = f"{self.host}:{self.port}"
        if isinstance(exc, TimeoutError | socket.timeout):
            return StoreTimeout(f"{where} did not answer within {self.timeout}s")
        return StoreUnavailable(f"{where}: {exc}")


def encode_batch(commands: Sequence[Sequence[bytes | str]]) -> bytes:
    return b"".join(encode_command(*command) for command in commands)


def error_text(reply: ErrorReply) -> str:
    return bytes(reply).decode("utf-8", "replace")


def check_handshake(replies: list[object]) -> None:
    for reply in replies:
        if isinstance(reply, ErrorReply):
            raise ResponseError(error_text(reply))


def take_replies(parser: ReplyParser, count: int, replies: list[object]) -> bool:
    """Move complete replies from the parser into ``replies``; True once there are ``count``."""
    while len(replies) < count:
        reply = parser.next()
        if reply is NEED_DATA:
            return False
        replies.append(reply)
    return True


def received(chunk: bytes) -> bytes:
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def closed_by_peer(sock: socket.socket) -> bool:
    """An idle connection is readable only if the server closed it (or sent something we did not
    ask for): either way it must not be reused."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _SocketConnection:
    """What the blocking and the asyncio connection share: their socket's health and closing."""

    _sock: socket.socket

    def stale(self) -> bool:
        return closed_by_peer(self._sock)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class Connection(_SocketConnection):
    """A blocking RESP connection; every connect, send and read is bounded by the timeout."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), timeout=endpoint.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if endpoint.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=endpoint.host)
        except OSError as exc:
            raise endpoint.failure(exc) from exc
        self._sock = sock
        self._parser = ReplyParser()
        handshake = endpoint.handshake()
        if handshake:
            try:
                check_handshake(self.request(handshake))
            except BaseException:
                self.close()
                raise

    def request(self, commands: Sequence[Sequence[bytes | str]]) -> list[object]:
        """Send the commands at once; return their replies (error replies as ErrorReply values)."""
        try:
            self._sock.sendall(encode_batch(commands))
            replies: list[object] = []
            while not take_replies(self._parser, len(commands), replies):
                self._parser.feed(received(self._sock.recv(READ_SIZE)))
        except OSError as exc:
            raise self.endpoint.failure(exc) from exc
        return replies


class _TLS:
    """TLS over a non-blocking socket with ``ssl.MemoryBIO`` (no asyncio transport, no loop)."""

    def __init__(self, host: str) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ssl.create_default_context().wrap_bio(self.incoming, self.outgoing, server_hostname=host)


class AsyncConnection(_SocketConnection):
    """An asyncio RESP connection on a non-blocking socket, usable from any event loop (one at a
    time: the pool hands it to one operation)."""

    def __init__(self, endpoint: Endpoint, sock: socket.socket, tls: _TLS | None) -> None:
        self.endpoint = endpoint
        self._sock = sock
        self._tls = tls
        self._parser = ReplyParser()

    @classmethod
    async def open(cls, endpoint: Endpoint) -> AsyncConnection:
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        try:
            async with asyncio.timeout(endpoint.timeout):
                infos = await loop.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
                error: OSError = OSError(f"no address for {endpoint.host}")
                for family, kind, proto, _, address in infos:
                    sock = socket.socket(family, kind, proto)
                    sock.setblocking(False)
                    try:
                        await loop.sock_connect(sock, address)
                        break
                    except OSError as exc:
                        sock.close()
                        sock, error = None, exc
                if sock is None:
                    raise error
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = cls(endpoint, sock, _TLS(endpoint.host) if endpoint.tls else None)
                await conn._handshake_tls()
        except (OSError, TimeoutError) as exc:
            if sock is not None:
                sock.close()
            raise endpoint.failure(exc) from exc
        handshake = endpoint.handshake()
        if handshake:
            try:
                check_handshake(await conn.request(handshake))
            except BaseException:
                conn.close()
                raise
        return conn

    async def _flush(self) -> None:
        if self._tls is not None and self._tls.outgoing.pending:
            await asyncio.get_running_loop().sock_sendall(self._sock, self._tls.outgoing.read())

    async def _fill(self) -> None:
        """Feed the TLS layer from the socket."""
        assert self._tls is not None
        chunk = await asyncio.get_running_loop().sock_recv(self._sock, READ_SIZE)
        if not chunk:
            self._tls.incoming.write_eof()
        self._tls.incoming.write(chunk)

    async def _handshake_tls(self) -> None:
        while self._tls is not None:
            try:
                self._tls.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
        await self._flush()

    async def _send(self, data: bytes) -> None:
        if self._tls is None:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
            return
        self._tls.tls.write(data)
        await self._flush()

    async def _recv(self) -> bytes:
        if self._tls is None:
            return await asyncio.get_running_loop().sock_recv(self._sock, READ_SIZE)
        while True:
            try:
                return self._tls.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            except ssl.SSLZeroReturnError:
                return b""

    async def request(self, commands: Sequence[Sequence[bytes | str]]) -> list[object]:
        try:
            async with asyncio.timeout(self.endpoint.timeout):
                await self._send(encode_batch(commands))
                replies: list[object] = []
                while not take_replies(self._parser, len(commands), replies):
                    self._parser.feed(received(await self._recv()))
        except (OSError, TimeoutError) as exc:
            raise self.endpoint.failure(exc) from exc
        return replies


C = TypeVar("C", Connection, AsyncConnection)


class _Pool(Generic[C]):
    """The bookkeeping both pools share, under one lock: at most ``max_connections`` open
    (idle ones included), idle ones reused newest first, stale ones dropped at checkout."""

    def __init__(self, endpoint: Endpoint, max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.endpoint = endpoint
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._idle: list[C] = []
        self._open = 0
        self._closed = False

    def _take(self) -> tuple[bool, C | None]:
        """Under the lock: (True, an idle connection or None to open one), or (False, None) if all
        connections are busy."""
        if self._closed:
            raise RuntimeError("the session store is closed")
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale():
                return True, conn
            conn.close()
            self._open -= 1
        if self._open < self.max_connections:
            self._open += 1
            return True, None
        return False, None

    def _give_back(self, conn: C | None) -> None:
        """Under the lock: a connection back to the idle list, or None for one that was closed."""
        if conn is not None and not self._closed:
            self._idle.append(conn)
            return
        if conn is not None:
            conn.close()
        self._open -= 1

    def _exhausted(self) -> StoreTimeout:
        return StoreTimeout(
            f"all {self.max_connections} connections to {self.endpoint.host}:{self.endpoint.port} "
            f"stayed busy for {self.endpoint.timeout}s (raise max_connections?)"
        )

    def _close_idle(self) -> list[C]:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        return idle


class ConnectionPool(_Pool[Connection]):
    """Thread-safe and bounded: a caller waits up to the timeout for a free connection."""

    def __init__(self, endpoint: Endpoint, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        super().__init__(endpoint, max_connections)
        self._freed = threading.Condition(self._lock)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        timeout = self.endpoint.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._freed:
            while True:
                ok, conn = self._take()
                if ok:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise self._exhausted()
                self._freed.wait(remaining)
        kept: Connection | None = None
        try:
            if conn is None:
                conn = Connection(self.endpoint)
            yield conn
            kept = conn
        except BaseException:
            if conn is not None:
                conn.close()  # its state (a half-read reply, a WATCH) is unknown
            raise
        finally:
            with self._freed:
                self._give_back(kept)
                self._freed.notify()

    def close(self) -> None:
        for conn in self._close_idle():
            conn.close()


class AsyncConnectionPool(_Pool[AsyncConnection]):
    """Bounded like ``ConnectionPool``, and shared by every event loop and thread."""

    def __init__(self, endpoint: Endpoint, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        super().__init__(endpoint, max_connections)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        conn = await self._acquire()
        kept: AsyncConnection | None = None
        try:
            if conn is None:
                conn = await AsyncConnection.open(self.endpoint)
            yield conn
            kept = conn
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        finally:
            with self._lock:
                self._give_back(kept)
                waiters, self._waiters = self._waiters, []
            for loop, future in waiters:  # each retries; the lock decides who gets the connection
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    loop.call_soon_threadsafe(_wake, future)

    async def _acquire(self) -> AsyncConnection | None:
        loop = asyncio.get_running_loop()
        timeout = self.endpoint.timeout
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                ok, conn = self._take()
                if ok:
                    return conn
                waiter = (loop, loop.create_future())
                self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter[1]
            except TimeoutError:
                raise self._exhausted() from None
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    async def close(self) -> None:
        for conn in self._close_idle():
            conn.close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
