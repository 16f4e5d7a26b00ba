"""Connections that recover: a store restart (kill -9) fails no request after it, a stalled store
(SIGSTOP) gives StoreTimeout within the timeout, pools are bounded and work from any event loop,
and every backend raises the library's own exceptions. Each against kvserver and redis-server,
on servers of the test's own (restarted or stopped here)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import valkey
import valkey.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from kvsession import AsyncSessionStore, ResponseError, SessionStore, StoreTimeout, StoreUnavailable
from kvsession.resp import ConnectionPool, Endpoint
from kvsession.tokens import KeyLayout, parse_token
from tests.support import ServerProcess, free_port, kvserver_process, redis_server_process, token_of

SYNC_CLIENTS: dict[str, Any] = {"redis-py": redis.Redis, "valkey-py": valkey.Valkey}
ASYNC_CLIENTS: dict[str, Any] = {"redis-py": redis.asyncio.Redis, "valkey-py": valkey.asyncio.Valkey}


@pytest.fixture(params=["kvserver", "redis"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on a fixed port that this test may kill, restart (same port, same data) or stop."""
    if request.param == "kvserver":
        server = kvserver_process(tmp_path / "kv", "--port", str(free_port()))
    else:
        server = redis_server_process(tmp_path / "redis")
    server.start()
    yield server
    if server.alive():
        os.kill(server.pid, signal.SIGCONT)
        server.kill9()


def url(server: ServerProcess) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


def client_options(options: dict[str, Any]) -> dict[str, Any]:
    """redis-py's own retry (10 tries by default) would multiply a timeout: off when timing."""
    if "timeout" not in options:
        return {}
    return {"socket_timeout": options["timeout"], "retry": Retry(NoBackoff(), 0)}


def sync_store(server: ServerProcess, backend: str, **options: Any) -> tuple[SessionStore, Any]:
    if backend == "builtin":
        return SessionStore.from_url(url(server), **options), None
    client = SYNC_CLIENTS[backend](port=server.port, decode_responses=True, **client_options(options))
    return SessionStore(client), client


@contextlib.asynccontextmanager
async def async_store(server: ServerProcess, backend: str, **options: Any) -> Any:
    if backend == "builtin":
        async with AsyncSessionStore.from_url(url(server), **options) as store:
            yield store
        return
    client = ASYNC_CLIENTS[backend](port=server.port, decode_responses=True, **client_options(options))
    async with AsyncSessionStore(client) as store:
        yield store
    await client.aclose()


def restart(server: ServerProcess) -> None:
    """kill -9, then the same command again: same port, same data directory."""
    server.kill9()
    server.start()


BACKENDS = ["builtin", "redis-py", "valkey-py"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.slow
def test_no_request_fails_after_a_kill_9_and_restart(own_server: ServerProcess, backend: str) -> None:
    """Defect 1: pooled connections to the dead server are noticed, not handed out; a read (or
    create's idempotent write) that meets a closed connection is retried once."""
    store, client = sync_store(own_server, backend)
    durable = own_server.argv[1:3] == ["-m", "kvserver"]
    sessions = [store.create(f"u{i}", {"i": i}) for i in range(8)]

    def warm_the_pool() -> None:  # several pooled connections, each about to go stale
        threads = [threading.Thread(target=store.get, args=(s.token,)) for s in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    warm_the_pool()
    errors: list[BaseException] = []
    for _round in range(2):
        restart(own_server)
        for i, session in enumerate(sessions):
            try:
                fresh = store.create(f"new{i}")  # a write first
                got = store.get(session.token)  # type: ignore[arg-type]
                assert store.get(fresh.token) is not None  # type: ignore[arg-type]
                if durable:
                    assert got is not None
                    assert got.data == {"i": i}
                store.list(f"u{i}")
            except StoreUnavailable as exc:
                errors.append(exc)
        warm_the_pool()
    store.close()
    if client is not None:
        client.close()
    assert errors == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_store_survives_a_kill_9_and_restart(own_server: ServerProcess, backend: str) -> None:
    async def main() -> None:
        async with async_store(own_server, backend) as store:
            sessions = [await store.create(f"u{i}") for i in range(8)]
            await asyncio.gather(*(store.get(s.token) for s in sessions))  # 8 pooled connections
            await asyncio.to_thread(restart, own_server)
            results = await asyncio.gather(
                *(store.create(f"n{i}") for i in range(8)),
                *(store.list(s.user_id) for s in sessions),
                return_exceptions=True,
            )
            assert [r for r in results if isinstance(r, BaseException)] == []

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.slow
def test_a_stalled_store_times_out(own_server: ServerProcess, backend: str) -> None:
    """Defect 2: with the server stopped (SIGSTOP) every call raises StoreTimeout within the
    configured timeout, on a pooled connection and on a new one, sync and async."""
    timeout = 0.5
    store, client = sync_store(own_server, backend, timeout=timeout)
    session = store.create("alice")

    async def async_get() -> None:
        async with async_store(own_server, backend, timeout=timeout) as astore:
            await astore.get(token_of(session))
            os.kill(own_server.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(StoreTimeout):
                    await astore.get(token_of(session))
                assert time.monotonic() - started < timeout + 1.0
            finally:
                os.kill(own_server.pid, signal.SIGCONT)

    os.kill(own_server.pid, signal.SIGSTOP)
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(StoreTimeout):
                store.get(session.token)  # type: ignore[arg-type]
            assert time.monotonic() - started < timeout + 1.0
    finally:
        os.kill(own_server.pid, signal.SIGCONT)
    assert store.get(session.token) is not None  # type: ignore[arg-type]
    asyncio.run(async_get())
    store.close()
    if client is not None:
        client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unreachable_store_raises_store_unavailable(own_server: ServerProcess, backend: str) -> None:
    """Defect 7: the library's exception, not the backend's (ConnectionRefusedError, redis-py's
    ConnectionError...). (redis-py's own retries are off: they would only make it slower.)"""
    store, client = sync_store(own_server, backend, timeout=2.0)
    session = store.create("alice")
    own_server.kill9()
    with pytest.raises(StoreUnavailable):
        store.get(session.token)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        store.create("bob")

    async def main() -> None:
        async with async_store(own_server, backend, timeout=2.0) as astore:
            with pytest.raises(StoreUnavailable):
                await astore.list("alice")

    asyncio.run(main())
    store.close()
    if client is not None:
        client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_error_replies_raise_the_library_response_error(own_server: ServerProcess, backend: str) -> None:
    store, client = sync_store(own_server, backend)
    session = store.create("alice")
    token = parse_token(session.token)
    assert token is not None
    with redis.Redis(port=own_server.port) as r:
        r.delete(KeyLayout().session(token.id))
        r.set(KeyLayout().session(token.id), "not a hash")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        store.get(session.token)  # type: ignore[arg-type]
    store.close()
    if client is not None:
        client.close()


def test_one_async_store_serves_every_event_loop(server: ServerProcess) -> None:
    """Defect 7: asyncio.run per test (as FastAPI's TestClient does) and threads with their own
    loops share one AsyncSessionStore and its pooled connections."""
    store = AsyncSessionStore.from_url(url(server))

    async def use(user: str) -> None:
        session = await store.create(user)
        assert (await store.get(session.token)) is not None  # type: ignore[arg-type]

    asyncio.run(use("first-loop"))
    asyncio.run(use("second-loop"))
    failures: list[BaseException] = []

    def in_thread(i: int) -> None:
        try:
            asyncio.run(use(f"thread{i}"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    asyncio.run(store.aclose())


def connected_clients(port: int) -> int:
    with redis.Redis(port=port) as r:
        return int(r.info("clients")["connected_clients"]) - 1  # not this one


def test_pools_are_bounded(server: ServerProcess) -> None:
    async def main() -> None:
        async with AsyncSessionStore.from_url(url(server), max_connections=3) as store:
            sessions = await asyncio.gather(*(store.create(f"u{i}") for i in range(30)))
            await asyncio.gather(*(store.get(s.token) for s in sessions))  # type: ignore[arg-type]
            assert connected_clients(server.port) <= before + 3

    before = connected_clients(server.port)
    asyncio.run(main())
    with SessionStore.from_url(url(server), max_connections=2) as store:
        session = store.create("alice")
        threads = [threading.Thread(target=store.get, args=(session.token,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert connected_clients(server.port) <= before + 2


def test_an_exhausted_pool_times_out(server: ServerProcess) -> None:
    pool = ConnectionPool(Endpoint.from_url(url(server), timeout=0.3), max_connections=1)
    with SessionStore(pool) as store:
        session = store.create("alice")
        with pool.connection(), pytest.raises(StoreTimeout, match="max_connections"):
            store.get(session.token)  # type: ignore[arg-type]
        assert store.get(session.token) is not None  # type: ignore[arg-type]
