"""A small built-in RESP client (sync and asyncio) on kvserver's sans-IO codec, so the session
library needs no redis-py. One connection sends a batch of commands and reads their replies;
a pool hands each operation its own connection (WATCH state belongs to a connection)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from kvserver.protocol import NEED_DATA, ErrorReply, encode_command
from kvserver.reply_parser import ReplyParser

READ_SIZE: Final = 1 << 16


class ResponseError(Exception):
    """The server answered a command with an error reply."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect, parsed from ``redis://[[user]:password@]host[:port][/db]``."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    timeout: float | None = 10.0

    @classmethod
    def from_url(cls, url: str, timeout: float | None = 10.0) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "valkey", "valkeys"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use redis:// or rediss://")
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


def encode_batch(commands: Sequence[Sequence[bytes | str]]) -> bytes:
    return b"".join(encode_command(*command) for command in commands)


def check_handshake(replies: list[object]) -> None:
    for reply in replies:
        if isinstance(reply, ErrorReply):
            raise ResponseError(bytes(reply).decode("utf-8", "replace"))


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


class Connection:
    """A blocking RESP connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=endpoint.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if endpoint.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=endpoint.host)
        self._sock = sock
        self._parser = ReplyParser()
        handshake = endpoint.handshake()
        if handshake:
            check_handshake(self.request(handshake))

    def request(self, commands: Sequence[Sequence[bytes | str]]) -> list[object]:
        """Send the commands at once; return their replies (error replies as ErrorReply values)."""
        self._sock.sendall(encode_batch(commands))
        replies: list[object] = []
        while not take_replies(self._parser, len(commands), replies):
            self._parser.feed(received(self._sock.recv(READ_SIZE)))
        return replies

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class ConnectionPool:
    """Thread-safe: an idle connection is reused; one that failed mid-operation is dropped."""

    def __init__(self, endpoint: Endpoint, max_idle: int = 32) -> None:
        self.endpoint = endpoint
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the session store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = Connection(self.endpoint)
        try:
            yield conn
        except BaseException:
            conn.close()  # its state (a half-read reply, a WATCH) is unknown
            raise
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class AsyncConnection:
    """An asyncio RESP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = ReplyParser()

    @classmethod
    async def open(cls, endpoint: Endpoint) -> AsyncConnection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                ssl=ssl.create_default_context() if endpoint.tls else None,
            ),
            endpoint.timeout,
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(reader, writer)
        handshake = endpoint.handshake()
        if handshake:
            check_handshake(await conn.request(handshake))
        return conn

    async def request(self, commands: Sequence[Sequence[bytes | str]]) -> list[object]:
        self._writer.write(encode_batch(commands))
        await self._writer.drain()
        replies: list[object] = []
        while not take_replies(self._parser, len(commands), replies):
            self._parser.feed(received(await self._reader.read(READ_SIZE)))
        return replies

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()


class AsyncConnectionPool:
    """One event loop's connections (not shared between loops)."""

    def __init__(self, endpoint: Endpoint, max_idle: int = 32) -> None:
        self.endpoint = endpoint
        self.max_idle = max_idle
        self._idle: list[AsyncConnection] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if self._closed:
            raise RuntimeError("the session store is closed")
        conn = self._idle.pop() if self._idle else await AsyncConnection.open(self.endpoint)
        try:
            yield conn
        except BaseException:
            await conn.close()
            raise
        if not self._closed and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            await conn.close()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
