"""Every session test runs against kvserver and against a real redis-server, through the built-in
client, through redis-py and through valkey-py (the two with ``decode_responses=True``, the
setting most apps use)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import valkey
import valkey.asyncio

from kvsession import AsyncSessionStore, SessionStore
from tests.support import ServerProcess


@pytest.fixture(params=["kvserver", "redis"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The server under test, emptied."""
    process: ServerProcess = request.getfixturevalue("kv_server" if request.param == "kvserver" else "real_redis")
    with redis.Redis(port=process.port) as r:
        r.flushall()
    return process


@pytest.fixture
def inspect(server: ServerProcess) -> Iterator[redis.Redis]:
    """A plain client to look at what the store wrote."""
    client = redis.Redis(port=server.port)
    yield client
    client.close()


MakeStore = Callable[..., SessionStore]
AsyncStoreFactory = Callable[..., contextlib.AbstractAsyncContextManager[AsyncSessionStore]]


CLIENT_LIBRARIES = {"redis-py": redis.Redis, "valkey-py": valkey.Valkey}
ASYNC_CLIENT_LIBRARIES = {"redis-py": redis.asyncio.Redis, "valkey-py": valkey.asyncio.Valkey}


@pytest.fixture(params=["builtin", "redis-py", "valkey-py"])
def make_store(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[MakeStore]:
    stores: list[SessionStore] = []
    clients: list[Any] = []

    def make(**options: Any) -> SessionStore:
        if request.param == "builtin":
            store = SessionStore.from_url(f"redis://127.0.0.1:{server.port}/0", **options)
        else:
            clients.append(CLIENT_LIBRARIES[request.param](port=server.port, decode_responses=True))
            store = SessionStore(clients[-1], **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
    for client in clients:
        client.close()


@pytest.fixture
def store(make_store: MakeStore) -> SessionStore:
    return make_store()


@pytest.fixture(params=["builtin", "redis-py", "valkey-py"])
def async_store(request: pytest.FixtureRequest, server: ServerProcess) -> AsyncStoreFactory:
    """``async with async_store(**options) as store``, inside the test's event loop."""

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[AsyncSessionStore]:
        if request.param == "builtin":
            async with AsyncSessionStore.from_url(f"redis://127.0.0.1:{server.port}/0", **options) as store:
                yield store
            return
        client = ASYNC_CLIENT_LIBRARIES[request.param](port=server.port, decode_responses=True)
        async with AsyncSessionStore(client, **options) as store:
            yield store
        await client.aclose()

    return make
