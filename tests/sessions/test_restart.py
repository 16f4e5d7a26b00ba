"""The test this product exists for: sessions survive kill -9 of kvserver, exactly, and so do the
requests of an app that uses them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio

from kvsession import AsyncSessionStore, SessionStore
from kvsession.testing import KvServer, kvserver
from tests.support import Gates, ServerProcess, make_app

__all__ = ["kvserver"]  # the fixture

Spawn = Callable[..., ServerProcess]


def deadlines(port: int) -> dict[bytes, int]:
    with redis.Redis(port=port) as r:
        return {key: r.pexpiretime(key) for key in r.scan_iter("session:*")}


@pytest.mark.slow
def test_sessions_survive_kill_9_with_their_deadlines(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "sessions"
    server = spawn(data_dir=data_dir)  # the defaults: appendonly yes, appendfsync always
    store = SessionStore.from_url(f"redis://127.0.0.1:{server.port}/0")
    live = [store.create(f"user{i % 7}", {"i": i}, metadata={"ip": f"198.51.100.{i}"}) for i in range(60)]
    short = store.create("user0", ttl=3600)
    revoked = live[:10]
    for session in revoked:
        assert store.revoke(session.token) is True  # type: ignore[arg-type]
    rotated_away = live[10]
    rotated = store.rotate(rotated_away.token)  # type: ignore[arg-type]
    assert store.revoke_all("user6") > 0  # every session of user6 is gone
    survivors = [s for s in [*live[11:], short] if s.user_id != "user6"]
    store.update(survivors[0].token, {"cart": ["book"]})  # type: ignore[arg-type]
    before = deadlines(server.port)
    store.close()

    server.kill9()
    restarted = spawn(data_dir=data_dir)
    assert deadlines(restarted.port) == before  # absolute deadlines, unchanged by the restart
    store = SessionStore.from_url(f"redis://127.0.0.1:{restarted.port}/0")
    for session in survivors:
        got = store.get(session.token)  # type: ignore[arg-type]
        assert got is not None, session.id
        assert got.expires_at == session.expires_at
        assert got.metadata == session.metadata
    assert store.get(survivors[0].token).data == {"i": survivors[0].data["i"], "cart": ["book"]}  # type: ignore[arg-type, union-attr]
    for session in [*revoked, rotated_away]:
        assert store.get(session.token) is None  # type: ignore[arg-type]
    assert rotated is not None
    assert (store.get(rotated.token) is not None) == (rotated.user_id != "user6")  # type: ignore[arg-type]
    assert store.list("user6") == []
    assert {s.id for s in store.list("user1")} == {s.id for s in survivors if s.user_id == "user1"} | (
        {rotated.id} if rotated.user_id == "user1" else set()
    )
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["builtin", "redis-py"])
def test_requests_through_the_middleware_across_kill_9_and_restart(backend: str, kvserver: KvServer) -> None:
    """Defects 1 and 3 end to end: an app under load while kvserver is killed and restarted on
    the same port and data. Requests during the outage may fail; after the restart completes,
    50 concurrent requests (on a pool full of connections to the dead process) give 0 errors,
    and the session, with every increment that succeeded, is still there. (On the testing helper
    shipped with the library, as an application's own tests would be.)"""
    port, server = kvserver.port, kvserver

    async def main() -> None:
        client = redis.asyncio.Redis(port=port) if backend == "redis-py" else None
        store = (
            AsyncSessionStore(client)
            if client is not None
            else AsyncSessionStore.from_url(f"redis://127.0.0.1:{port}/0")
        )
        transport = httpx.ASGITransport(app=make_app(store, Gates()), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            await http.post("/login", params={"user": "alice"})
            warm = await asyncio.gather(*(http.post("/count") for _ in range(50)))  # 50 pooled connections
            assert {r.status_code for r in warm} == {200}
            server.kill9()
            during = await asyncio.gather(*(http.post("/count") for _ in range(10)))
            await asyncio.to_thread(server.start)  # same port, same data directory
            after = await asyncio.gather(*(http.post("/count") for _ in range(50)))
            assert [r.status_code for r in after if r.status_code != 200] == []
            counted = 50 + sum(r.status_code == 200 for r in during) + 50
            me = (await http.get("/me")).json()
            assert me["user"] == "alice"
            assert me["data"]["visits"] == counted
        await store.aclose()
        if client is not None:
            await client.aclose()

    asyncio.run(main())
