"""SessionStore and AsyncSessionStore over TCP against kvserver and redis-server: every rule of
the library, with both the built-in client and redis-py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
import redis

from kvsession import Session, SessionStore
from kvsession.tokens import parse_token
from tests.sessions.conftest import AsyncStoreFactory, MakeStore
from tests.support import pexpiretime, token_of, wait_for


def session_keys(inspect: redis.Redis) -> list[bytes]:
    return sorted(key for key in inspect.scan_iter("session:*") if b":s:" in key)


def test_lifecycle(store: SessionStore, inspect: redis.Redis) -> None:
    session = store.create("alice", {"cart": [1, 2]}, metadata={"ip": "203.0.113.7"})
    assert session.token is not None
    assert session.user_id == "alice"
    assert session.created_at.tzinfo is UTC
    assert session.expires_at - session.created_at == timedelta(days=7)
    got = store.get(session.token)
    assert got == session
    assert got is not None
    assert got.token is None  # only create and rotate hand out the token
    assert store.update(session.token, {"theme": "dark"}).data == {"cart": [1, 2], "theme": "dark"}  # type: ignore[union-attr]
    rotated = store.rotate(session.token)
    assert rotated is not None
    assert rotated.token is not None
    assert store.get(session.token) is None
    assert store.get(rotated.token).data == {"cart": [1, 2], "theme": "dark"}  # type: ignore[union-attr]
    second = store.create("alice", ttl=60)
    assert second.expires_at - second.created_at == timedelta(seconds=60)
    assert {s.id for s in store.list("alice")} == {rotated.id, second.id}
    assert all(s.token is None for s in store.list("alice"))
    assert store.revoke(second.token) is True  # type: ignore[arg-type]
    assert store.revoke(second.token) is False  # type: ignore[arg-type]
    store.create("alice")
    assert store.revoke_all("alice", except_token=rotated.token) == 1
    assert [s.id for s in store.list("alice")] == [rotated.id]
    assert store.revoke_all(1234) == 0  # int user ids are accepted
    assert store.revoke_all("alice") == 1
    assert session_keys(inspect) == []
    assert inspect.dbsize() == 0  # and no index is left behind


def test_async_store_has_the_same_operations(async_store: AsyncStoreFactory, inspect: redis.Redis) -> None:
    async def scenario() -> None:
        async with async_store() as store:
            sessions = await asyncio.gather(*(store.create("bob", {"n": i}) for i in range(20)))
            fetched = await asyncio.gather(*(store.get(token_of(s)) for s in sessions))
            assert [s.data["n"] for s in fetched if s is not None] == list(range(20))
            first = sessions[0]
            assert (await store.update(token_of(first), lambda d: {**d, "n": 100})) is not None
            rotated = await store.rotate(token_of(first))
            assert rotated is not None
            assert await store.get(token_of(first)) is None
            assert await store.revoke(token_of(sessions[1])) is True
            assert len(await store.list("bob")) == 19
            assert await store.revoke_id("bob", sessions[2].id) is True
            assert await store.revoke_all("bob", except_token=rotated.token) == 17
            assert [s.id for s in await store.list("bob")] == [rotated.id]

    asyncio.run(scenario())
    assert len(session_keys(inspect)) == 1


def test_only_hashes_of_secrets_are_stored(store: SessionStore, inspect: redis.Redis) -> None:
    tokens = [token_of(store.create(f"user{i}", {"k": "v"})) for i in range(5)]
    dump = b""
    for key in cast(Iterator[bytes], inspect.scan_iter("*")):
        dump += key
        if inspect.type(key) == b"hash":
            dump += b"".join(k + v for k, v in cast(dict[bytes, bytes], inspect.hgetall(key)).items())
    for token in tokens:
        parsed = parse_token(token)
        assert parsed is not None
        assert parsed.secret.encode() not in dump
        assert token.encode() not in dump


def test_bad_tokens_are_simply_none(store: SessionStore) -> None:
    session = store.create("alice")
    token = session.token
    assert token is not None
    tampered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    forged = token.split(".")[0] + "." + "A" * 43
    for bad in ["", "garbage", tampered, forged, token + "=", token.upper(), "a" * 70]:
        assert store.get(bad) is None
        assert store.update(bad, {"x": 1}) is None
        assert store.rotate(bad) is None
        assert store.revoke(bad) is False
    assert store.get(token) is not None


def test_idle_timeout_is_enforced_by_the_server(make_store: MakeStore, inspect: redis.Redis) -> None:
    store = make_store(idle_ttl=0.3, absolute_ttl=60)
    session = store.create("alice")
    assert 0 < inspect.pttl(session_keys(inspect)[0]) <= 300
    wait_for(lambda: inspect.dbsize() == 0, timeout=10)  # the key and the index expire on their own
    assert store.get(session.token) is None  # type: ignore[arg-type]


class ShiftedClock:
    """The store's clock, moved forward by hand (the server's clock is real)."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset


def test_sliding_refresh_is_write_throttled_and_capped(make_store: MakeStore, inspect: redis.Redis) -> None:
    clock = ShiftedClock()
    store = make_store(idle_ttl=100, absolute_ttl=250, clock=clock)
    session = store.create("alice")
    key = session_keys(inspect)[0]
    deadline = pexpiretime(inspect, key)
    clock.offset = 40_000  # 60 s of 100 left: more than half, no write
    assert store.get(session.token) is not None  # type: ignore[arg-type]
    assert pexpiretime(inspect, key) == deadline
    clock.offset = 60_000  # 40 s left: refresh, deadline = now + 100 s
    refreshed = store.get(session.token)  # type: ignore[arg-type]
    assert refreshed is not None
    assert 0 <= pexpiretime(inspect, key) - (deadline + 60_000) < 1000  # (plus the real time that passed)
    assert refreshed.last_seen_at > session.last_seen_at
    for offset in (120_000, 180_000):  # refreshed again, until the absolute deadline (created + 250 s) caps it
        clock.offset = offset
        assert store.get(session.token) is not None  # type: ignore[arg-type]
    created_ms = int(session.created_at.timestamp() * 1000)
    assert pexpiretime(inspect, key) == created_ms + 250_000
    clock.offset = 250_001
    assert store.get(session.token) is None  # type: ignore[arg-type]


def test_concurrent_updates_are_never_lost(make_store: MakeStore) -> None:
    store = make_store()
    token = store.create("alice", {"n": 0}).token
    assert token is not None

    def increment() -> None:
        for _ in range(25):
            store.update(token, lambda data: {**data, "n": data["n"] + 1})

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(token).data == {"n": 200}  # type: ignore[union-attr]


def test_a_revoked_session_is_never_resurrected(store: SessionStore, inspect: redis.Redis) -> None:
    session = store.create("alice", {"a": 1})
    assert store.revoke(session.token) is True  # type: ignore[arg-type]
    assert store.update(session.token, {"a": 2}) is None  # type: ignore[arg-type]
    assert store.rotate(session.token) is None  # type: ignore[arg-type]
    assert inspect.dbsize() == 0


@pytest.mark.slow
def test_logins_racing_revoke_all_are_always_indexed(make_store: MakeStore, inspect: redis.Redis) -> None:
    store = make_store()
    stop = threading.Event()

    def login() -> None:
        while not stop.is_set():
            store.create("alice")

    threads = [threading.Thread(target=login) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        revoked = sum(store.revoke_all("alice") for _ in range(10))  # never gives up, however busy
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert revoked > 0
    index_keys = list(inspect.scan_iter("session:*:u:alice"))  # gone if the last sweep left nobody
    indexed = {m.decode() for key in index_keys for m in cast(list[bytes], inspect.zrange(key, 0, -1))}
    assert {key.decode().rsplit(":", 1)[1] for key in session_keys(inspect)} == indexed
    assert store.revoke_all("alice") == len(indexed)
    assert inspect.dbsize() == 0


def test_data_must_be_msgpack_serialisable(store: SessionStore, inspect: redis.Redis) -> None:
    with pytest.raises(TypeError, match="msgpack-serialisable"):
        store.create("alice", {"when": datetime.now(UTC)})
    assert inspect.dbsize() == 0
    token = store.create("alice", {"ok": True}).token
    with pytest.raises(TypeError, match="msgpack-serialisable"):
        store.update(token, {"bad": object()})  # type: ignore[arg-type]
    assert store.get(token).data == {"ok": True}  # type: ignore[arg-type, union-attr]


def test_a_users_keys_share_one_hash_tag(store: SessionStore, inspect: redis.Redis) -> None:
    for _ in range(3):
        store.create("alice")
    tags = {key.split(b"{")[1].split(b"}")[0] for key in inspect.scan_iter("*")}
    assert len(tags) == 1
    assert len(list(inspect.scan_iter("*"))) == 4  # three sessions and the index


def test_list_shows_metadata_newest_first(make_store: MakeStore) -> None:
    clock = ShiftedClock()
    store = make_store(clock=clock)
    older = store.create("alice", metadata={"device": "laptop"})
    clock.offset = 1000
    newer = store.create("alice", metadata={"device": "phone"})
    listed = store.list("alice")
    assert [(s.id, s.metadata["device"]) for s in listed] == [(newer.id, "phone"), (older.id, "laptop")]


def test_sessions_are_of_type_session(store: SessionStore) -> None:
    session = store.create("alice")
    assert isinstance(session, Session)
    assert "token" not in repr(session) or session.token not in repr(session)  # type: ignore[operator]
