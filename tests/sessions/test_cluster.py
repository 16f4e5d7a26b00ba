"""The session stores on a real 3-master Redis 7 cluster on loopback, started here, through
redis-py's RedisCluster (sync and asyncio): every operation, concurrency, rotation grace and the
middleware (defect 3)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio.cluster
import redis.cluster

from kvsession import AsyncSessionStore, ResponseError, SessionStore
from kvsession.tokens import KeyLayout
from tests.support import (
    Gates,
    ServerProcess,
    call,
    cluster_node_port,
    make_app,
    redis_server_process,
    require_tool,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.external, pytest.mark.xdist_group("cluster")]  # one cluster per run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    cli = require_tool("redis-cli")
    nodes: list[ServerProcess] = []
    try:
        for i in range(3):
            directory: Path = tmp_path_factory.mktemp(f"cluster{i}")
            options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
            node = redis_server_process(directory, *options, port=cluster_node_port())
            nodes.append(node.start())
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def ready() -> bool:
            for n in nodes:
                with redis.Redis(port=n.port) as r:
                    if r.cluster("INFO").get("cluster_state") != "ok":
                        return False
            return True

        wait_for(ready, timeout=30)
        yield nodes
    finally:
        for n in nodes:
            n.kill9()


def test_every_operation_on_a_sync_cluster(cluster: list[ServerProcess]) -> None:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port, decode_responses=True)
    store = SessionStore(client)
    sessions = [store.create(f"user{i}", {"i": i}, metadata={"ip": "203.0.113.7"}) for i in range(40)]
    slots = {call(client.keyslot, f"session:{{{s.id[:4]}}}:") for s in sessions}
    nodes = {call(client.get_node_from_key, f"session:{{{s.id[:4]}}}:").name for s in sessions}
    assert len(slots) > 3
    assert len(nodes) == 3  # the users are spread over every master
    for s in sessions:
        assert s.token is not None
        assert store.get(s.token).data == s.data  # type: ignore[union-attr]
        store.update(s.token, lambda data: {**data, "n": data.get("n", 0) + 1})
        rotated = store.rotate(s.token, grace=30)
        assert rotated is not None
        assert rotated.token is not None
        assert store.get(s.token).id == rotated.id  # type: ignore[union-attr]  # within the grace
        assert [x.id for x in store.list(s.user_id)] == [rotated.id]
        other = store.create(s.user_id)
        assert store.revoke_all(s.user_id, except_token=other.token) == 1
        assert store.revoke_id(s.user_id, other.id) is True
        assert store.get(rotated.token) is None
    client.close()


def test_every_operation_on_an_asyncio_cluster_with_concurrency(cluster: list[ServerProcess]) -> None:
    async def main() -> None:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port)
        async with AsyncSessionStore(client) as store:
            sessions = await asyncio.gather(*(store.create(f"user{i}", {"i": i}) for i in range(30)))
            for s in sessions:
                assert s.token is not None
                assert (await store.get(s.token)).data == s.data  # type: ignore[union-attr]
            target = sessions[0].token
            assert target is not None
            await asyncio.gather(
                *(store.update(target, lambda data: {**data, "n": data.get("n", 0) + 1}) for _ in range(20))
            )
            assert (await store.get(target)).data == {"i": 0, "n": 20}  # type: ignore[union-attr]
            rotated = await store.rotate(target, grace=30)
            assert rotated is not None
            assert [x.id for x in await store.list("user0")] == [rotated.id]
            assert await store.revoke_all("user0") == 1
            assert await store.get(target) is None
            assert await store.revoke(sessions[1].token) is True  # type: ignore[arg-type]
        await client.aclose()

    asyncio.run(main())


def test_the_middleware_on_an_asyncio_cluster(cluster: list[ServerProcess]) -> None:
    async def main() -> None:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=cluster[1].port, decode_responses=True)
        async with AsyncSessionStore(client) as store:
            transport = httpx.ASGITransport(app=make_app(store, Gates()))
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
                await http.post("/login", params={"user": "alice"})
                responses = await asyncio.gather(*(http.post("/count") for _ in range(30)))
                assert sorted(r.json()["visits"] for r in responses) == list(range(1, 31))
                await http.post("/login", params={"user": "bob"})
                assert (await http.get("/me")).json() == {"user": "bob", "data": {}}
        await client.aclose()

    asyncio.run(main())


def test_the_builtin_client_on_one_node_says_what_to_use(cluster: list[ServerProcess]) -> None:
    """The built-in client talks to one node: a user whose slot lives elsewhere gets MOVED, as a
    ResponseError that names the way out."""
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port)
    elsewhere = next(f"user{i}" for i in range(100) if not owned_by(client, f"user{i}", cluster[0].port))
    with (
        SessionStore.from_url(f"redis://127.0.0.1:{cluster[0].port}/0") as store,
        pytest.raises(ResponseError, match="RedisCluster"),
    ):
        store.create(elsewhere)
    client.close()


def owned_by(client: redis.cluster.RedisCluster, user: str, port: int) -> bool:
    return bool(call(client.get_node_from_key, KeyLayout().index(user)).port == port)
