"""``SessionStore`` and ``AsyncSessionStore``: the same operations, blocking and awaited.

Both are thin: they check arguments, hand the operation from ``kvsession.logic`` to a runner (the
built-in RESP client, or the application's redis-py / valkey-py client) and return its result.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

from kvsession.drivers import (
    AsyncBuiltinRunner,
    AsyncRedisClusterRunner,
    AsyncRedisPyRunner,
    BuiltinRunner,
    RedisClusterRunner,
    RedisPyRunner,
)
from kvsession.logic import SessionLogic, Updater
from kvsession.model import DEFAULT_ABSOLUTE_TTL, DEFAULT_IDLE_TTL, Session, to_ms, user_key
from kvsession.resp import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, AsyncConnectionPool, ConnectionPool, Endpoint
from kvsession.tokens import KeyLayout, new_token

DEFAULT_URL = "redis://127.0.0.1:6379/0"
Lifetime = float | timedelta
UserId = str | int
Data = Mapping[str, Any] | None


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _StoreBase:
    """Configuration shared by both stores."""

    def __init__(
        self,
        *,
        idle_ttl: Lifetime = DEFAULT_IDLE_TTL,
        absolute_ttl: Lifetime = DEFAULT_ABSOLUTE_TTL,
        prefix: str = "session:",
        clock: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        idle, absolute = to_ms(idle_ttl), to_ms(absolute_ttl)
        if idle > absolute:
            raise ValueError("idle_ttl must not be longer than absolute_ttl")
        self.logic = SessionLogic(idle, absolute, KeyLayout(prefix), clock)

    @property
    def idle_ttl(self) -> timedelta:
        return timedelta(milliseconds=self.logic.idle_ms)

    @property
    def absolute_ttl(self) -> timedelta:
        return timedelta(milliseconds=self.logic.absolute_ms)


def _lifetimes(ttl: Lifetime | None, lifetime: Lifetime | None) -> tuple[int | None, int | None]:
    return (None if ttl is None else to_ms(ttl)), (None if lifetime is None else to_ms(lifetime))


def _grace(grace: Lifetime | None) -> int:
    return 0 if grace is None else to_ms(grace)


def _is_cluster_client(client: Any) -> bool:
    """redis-py's (or valkey-py's) RedisCluster, sync or asyncio."""
    return hasattr(client, "get_node_from_key") and hasattr(client, "nodes_manager")


def _is_async_client(client: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


class SessionStore(_StoreBase):
    """Server-side sessions on kvserver, Redis or Valkey (blocking API).

    ``SessionStore.from_url(url)`` uses the built-in RESP client; ``SessionStore(redis_client)``
    uses an existing redis-py or valkey-py ``Redis`` client (any ``decode_responses`` setting).
    """

    def __init__(self, client: Any, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, ConnectionPool):
            self._runner: BuiltinRunner | RedisPyRunner | RedisClusterRunner = BuiltinRunner(client)
        elif _is_cluster_client(client) and not _is_async_client(client):
            self._runner = RedisClusterRunner(client)
        elif hasattr(client, "pipeline") and not _is_async_client(client):
            self._runner = RedisPyRunner(client)
        else:
            raise TypeError("SessionStore needs a redis-py or valkey-py Redis client; use SessionStore.from_url(...)")

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **options: Any,
    ) -> SessionStore:
        """A store on the built-in client: ``redis://[[user]:password@]host[:port][/db]`` (rediss:// for TLS).

        ``timeout`` bounds every connect, every reply and the wait for a free pooled connection
        (``StoreTimeout``); at most ``max_connections`` are open at once.
        """
        return cls(ConnectionPool(Endpoint.from_url(url, timeout), max_connections), **options)

    def create(
        self,
        user_id: UserId,
        data: Data = None,
        *,
        ttl: Lifetime | None = None,
        lifetime: Lifetime | None = None,
        browser_session: bool = False,
        metadata: Data = None,
    ) -> Session:
        """A new session for ``user_id``; only the returned Session carries its token.

        ``ttl`` / ``lifetime``: this session's idle timeout and absolute lifetime instead of the
        store's ("remember me"); ``ttl`` alone raises the lifetime to at least ``ttl``; a ``ttl``
        longer than ``lifetime`` is a ValueError. ``browser_session``: recorded for the cookie
        (the middleware then sets it without Max-Age).
        """
        create = self.logic.create
        token, args = new_token(user_key(user_id)), _lifetimes(ttl, lifetime)
        return self._runner.run(lambda: create(user_id, data, args[0], metadata, token, args[1], browser_session))

    def get(self, token: str) -> Session | None:
        """The live session behind a token (sliding its idle expiry when due), or None."""
        return self._runner.run(lambda: self.logic.get(token))

    def update(self, token: str, data: Updater | None = None, *, metadata: Data = None) -> Session | None:
        """Merge ``data`` into the session's data (or apply a function to it); None if not live."""
        return self._runner.run(lambda: self.logic.update(token, data, metadata))

    def rotate(self, token: str, *, grace: Lifetime | None = None) -> Session | None:
        """A new token for the same session; the old token dies at once, or with ``grace`` keeps
        reaching the session (read and write, never refresh or rotate) for that long."""
        grace_ms = _grace(grace)
        return self._runner.run(lambda: self.logic.rotate(token, grace_ms))

    def revoke(self, token: str, *, grace: Lifetime | None = None) -> bool:
        """Revoke the session; with ``grace``, ``was_replaced(token)`` says so for that long."""
        grace_ms = _grace(grace)
        return self._runner.run(lambda: self.logic.revoke(token, grace_ms))

    def was_replaced(self, token: str) -> bool:
        """A token that reaches no session was rotated away or revoked with a grace period that
        has not ended (a request still carrying it should keep the newer cookie)."""
        return self._runner.run(lambda: self.logic.replaced(token))

    def revoke_id(self, user_id: UserId, session_id: str) -> bool:
        """Revoke one of the user's sessions by its public id (as shown by ``list``)."""
        return self._runner.run(lambda: self.logic.revoke_id(user_id, session_id))

    def revoke_all(self, user_id: UserId, *, except_token: str | None = None) -> int:
        """Revoke every session of the user (but the one of ``except_token``); the count revoked."""
        return self._runner.run(lambda: self.logic.revoke_all(user_id, except_token))

    def list(self, user_id: UserId) -> list[Session]:
        """The user's live sessions, most recently used first, without tokens."""
        return self._runner.run(lambda: self.logic.list(user_id))

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncSessionStore(_StoreBase):
    """The same as ``SessionStore`` with ``await``: built-in asyncio client or ``redis.asyncio``."""

    def __init__(self, client: Any, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, AsyncConnectionPool):
            self._runner: AsyncBuiltinRunner | AsyncRedisPyRunner | AsyncRedisClusterRunner = AsyncBuiltinRunner(client)
        elif _is_cluster_client(client) and _is_async_client(client):
            self._runner = AsyncRedisClusterRunner(client)
        elif hasattr(client, "pipeline") and _is_async_client(client):
            self._runner = AsyncRedisPyRunner(client)
        else:
            raise TypeError(
                "AsyncSessionStore needs a redis.asyncio or valkey.asyncio client; use AsyncSessionStore.from_url(...)"
            )

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **options: Any,
    ) -> AsyncSessionStore:
        """As ``SessionStore.from_url``; the store may be used from any event loop."""
        return cls(AsyncConnectionPool(Endpoint.from_url(url, timeout), max_connections), **options)

    async def create(
        self,
        user_id: UserId,
        data: Data = None,
        *,
        ttl: Lifetime | None = None,
        lifetime: Lifetime | None = None,
        browser_session: bool = False,
        metadata: Data = None,
    ) -> Session:
        """A new session for ``user_id``; only the returned Session carries its token.

        ``ttl`` / ``lifetime``: this session's idle timeout and absolute lifetime instead of the
        store's ("remember me"); ``ttl`` alone raises the lifetime to at least ``ttl``; a ``ttl``
        longer than ``lifetime`` is a ValueError. ``browser_session``: recorded for the cookie
        (the middleware then sets it without Max-Age).
        """
        create = self.logic.create
        token, args = new_token(user_key(user_id)), _lifetimes(ttl, lifetime)
        return await self._runner.run(lambda: create(user_id, data, args[0], metadata, token, args[1], browser_session))

    async def get(self, token: str) -> Session | None:
        return await self._runner.run(lambda: self.logic.get(token))

    async def update(self, token: str, data: Updater | None = None, *, metadata: Data = None) -> Session | None:
        return await self._runner.run(lambda: self.logic.update(token, data, metadata))

    async def rotate(self, token: str, *, grace: Lifetime | None = None) -> Session | None:
        """A new token for the same session; the old token dies at once, or with ``grace`` keeps
        reaching the session (read and write, never refresh or rotate) for that long."""
        grace_ms = _grace(grace)
        return await self._runner.run(lambda: self.logic.rotate(token, grace_ms))

    async def revoke(self, token: str, *, grace: Lifetime | None = None) -> bool:
        """Revoke the session; with ``grace``, ``was_replaced(token)`` says so for that long."""
        grace_ms = _grace(grace)
        return await self._runner.run(lambda: self.logic.revoke(token, grace_ms))

    async def was_replaced(self, token: str) -> bool:
        """A token that reaches no session was rotated away or revoked with a grace period that
        has not ended (a request still carrying it should keep the newer cookie)."""
        return await self._runner.run(lambda: self.logic.replaced(token))

    async def revoke_id(self, user_id: UserId, session_id: str) -> bool:
        return await self._runner.run(lambda: self.logic.revoke_id(user_id, session_id))

    async def revoke_all(self, user_id: UserId, *, except_token: str | None = None) -> int:
        return await self._runner.run(lambda: self.logic.revoke_all(user_id, except_token))

    async def list(self, user_id: UserId) -> list[Session]:
        return await self._runner.run(lambda: self.logic.list(user_id))

    async def aclose(self) -> None:
        await self._runner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
