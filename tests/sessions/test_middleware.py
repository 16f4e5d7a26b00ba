"""The middleware semantics real apps need (defects 4-7), in a Starlette app driven by httpx, on
kvserver and redis-server: a login as another user starts empty, concurrent requests lose no
write, requests in flight during a rotation or a login keep working and keep the new cookie,
remember-me and browser-session cookies, validated cookie options, user_id after logout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kvsession import AsyncSessionStore
from kvsession.asgi import SessionMiddleware
from tests.sessions.conftest import AsyncStoreFactory
from tests.support import Gates, make_app

Scenario = Callable[[httpx.AsyncClient, AsyncSessionStore, "Gates"], Awaitable[None]]


def run(async_store: AsyncStoreFactory, scenario: Scenario, **options: Any) -> None:
    async def main() -> None:
        async with async_store() as store:
            gates = Gates()
            transport = httpx.ASGITransport(app=make_app(store, gates, **options))
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
                await scenario(http, store, gates)

    asyncio.run(main())


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"session={token}"}


def test_login_as_another_user_starts_empty(async_store: AsyncStoreFactory) -> None:
    """Defect 4: alice's data never reaches bob's session on the same browser; logging in again as
    the same user keeps the data; a visitor's data set just before logging in is kept."""

    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        await http.post("/login", params={"user": "alice"})
        await http.post("/write", params={"key": "private_note", "value": "alice's"})
        await http.post("/login", params={"user": "alice"})
        assert (await http.get("/me")).json() == {"user": "alice", "data": {"private_note": "alice's"}}
        alice = http.cookies["session"]
        await http.post("/login", params={"user": "bob"})
        assert (await http.get("/me")).json() == {"user": "bob", "data": {}}
        assert await store.get(alice) is None
        http.cookies.clear()
        await http.post("/login", params={"user": "carol", "cart": "book"})
        assert (await http.get("/me")).json() == {"user": "carol", "data": {"cart": "book"}}
        planted = await store.create("mallory", {"planted": True})  # a fixation attempt
        http.cookies.clear()
        dave = await http.post("/login", params={"user": "dave"}, headers=cookie(planted.token))  # type: ignore[arg-type]
        assert (await http.get("/me")).json() == {"user": "dave", "data": {}}
        assert dave.cookies["session"] != planted.token

    run(async_store, scenario)


def test_concurrent_increments_are_all_counted(async_store: AsyncStoreFactory) -> None:
    """Defect 5: 50 concurrent requests incrementing a counter end at 51 (not ~25); concurrent
    writes of different keys all survive."""

    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        await http.post("/login", params={"user": "alice"})
        assert (await http.post("/count")).json() == {"visits": 1}
        responses = await asyncio.gather(*(http.post("/count") for _ in range(50)))
        assert sorted(r.json()["visits"] for r in responses) == list(range(2, 52))
        writes = await asyncio.gather(*(http.post("/write", params={"key": f"k{i}", "value": "v"}) for i in range(20)))
        assert all(r.status_code == 200 for r in writes)
        data = (await store.get(http.cookies["session"])).data  # type: ignore[union-attr]
        assert data == {"visits": 51, **{f"k{i}": "v" for i in range(20)}}

    run(async_store, scenario)


async def held_request(http: httpx.AsyncClient, gates: Gates) -> tuple[str, asyncio.Task[httpx.Response]]:
    """alice's token, and a request of hers held inside its handler (its session loaded)."""
    await http.post("/login", params={"user": "alice"})
    old = http.cookies["session"]
    http.cookies.clear()
    in_flight = asyncio.create_task(http.post("/slow-write", headers=cookie(old)))
    await gates.entered.wait()
    return old, in_flight


def test_a_request_in_flight_during_rotation_keeps_working(async_store: AsyncStoreFactory) -> None:
    """Defect 6: the request that started with the old token writes into the rotated session and
    does not clear the new cookie."""

    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        old, in_flight = await held_request(http, gates)
        rotated = await http.post("/rotate", headers=cookie(old))
        new = rotated.cookies["session"]
        assert new != old
        gates.release.set()
        response = await in_flight
        assert response.json() == {"user": "alice"}
        assert "set-cookie" not in response.headers  # the new cookie stays
        assert (await store.get(new)).data == {"late": "yes"}  # type: ignore[union-attr]
        assert (await http.get("/me", headers=cookie(old))).json()["user"] == "alice"  # within the grace

    run(async_store, scenario)


def test_a_request_in_flight_during_another_users_login_keeps_the_new_cookie(
    async_store: AsyncStoreFactory,
) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        old, in_flight = await held_request(http, gates)
        bob = (await http.post("/login", params={"user": "bob"}, headers=cookie(old))).cookies["session"]
        gates.release.set()
        response = await in_flight
        assert "set-cookie" not in response.headers
        assert (await store.get(bob)).data == {}  # type: ignore[union-attr]  # alice's late write is not bob's
        assert await store.get(old) is None  # replaced: it reaches nothing, not bob's session
        assert (await http.get("/me", headers=cookie(old))).json() == {"user": None, "data": {}}

    run(async_store, scenario)


def test_the_grace_period_does_not_extend_a_tokens_reach(async_store: AsyncStoreFactory) -> None:
    async def main() -> None:
        async with async_store() as store:
            first = await store.create("alice", {"n": 1})
            rotated = await store.rotate(first.token, grace=0.5)  # type: ignore[arg-type]
            assert rotated is not None
            via_old = await store.get(first.token)  # type: ignore[arg-type]
            assert via_old is not None
            assert via_old.id == rotated.id
            assert await store.rotate(first.token) is None  # type: ignore[arg-type]  # can't rotate again
            assert [s.id for s in await store.list("alice")] == [rotated.id]  # no second session
            await store.update(first.token, {"n": 2})  # type: ignore[arg-type]
            assert (await store.get(rotated.token)).data == {"n": 2}  # type: ignore[arg-type, union-attr]
            deadline = asyncio.get_running_loop().time() + 5
            while await store.get(first.token) is not None:  # type: ignore[arg-type]
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            assert await store.get(rotated.token) is not None  # type: ignore[arg-type]
            again = await store.rotate(rotated.token, grace=5)  # type: ignore[arg-type]
            assert again is not None
            assert await store.revoke_all("alice") == 1
            assert await store.get(rotated.token) is None  # type: ignore[arg-type]  # a forward to nothing

    asyncio.run(main())


def test_remember_me_and_browser_session_cookies(async_store: AsyncStoreFactory) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        response = await http.post("/login", params={"user": "alice", "remember": "0"})
        assert "Max-Age" not in response.headers["set-cookie"]
        assert (await store.get(http.cookies["session"])).browser_session  # type: ignore[union-attr]
        rotated = await http.post("/rotate")
        assert "Max-Age" not in rotated.headers["set-cookie"]  # rotation keeps the kind of cookie
        ninety_days = 90 * 24 * 3600
        response = await http.post("/login", params={"user": "alice", "remember": "1", "ttl": str(ninety_days)})
        max_age = int(response.headers["set-cookie"].split("Max-Age=")[1].split(";")[0])
        assert ninety_days - 60 < max_age <= ninety_days
        session = await store.get(http.cookies["session"])
        assert session is not None
        assert session.expires_at > datetime.now(UTC) + timedelta(days=89)

    run(async_store, scenario)
    with pytest.raises(ValueError, match="longer than the absolute lifetime"):
        asyncio.run(_create_with(async_store, ttl=3600, lifetime=60))


async def _create_with(async_store: AsyncStoreFactory, **options: Any) -> None:
    async with async_store() as store:
        await store.create("alice", **options)


def test_logout_forgets_the_user_at_once(async_store: AsyncStoreFactory) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        await http.post("/login", params={"user": "alice"})
        await http.post("/write", params={"key": "k", "value": "v"})
        assert (await http.post("/logout")).json() == {"user": None, "data": {}}

    run(async_store, scenario)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"same_site": "none", "secure": False}, "requires secure"),
        ({"same_site": "None"}, "same_site must be"),
        ({"cookie_name": "a b"}, "invalid cookie name"),
        ({"path": "nope"}, "invalid cookie path"),
        ({"domain": "example.com; evil"}, "invalid cookie domain"),
        ({"rotation_grace": -1}, "negative"),
    ],
)
def test_cookie_options_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionMiddleware(make_app, store=None, **options)  # type: ignore[arg-type]
    SessionMiddleware(make_app, store=None, same_site="none")  # type: ignore[arg-type]  # Secure by default


def test_the_optional_csrf_check_refuses_cross_site_writes(async_store: AsyncStoreFactory) -> None:
    """csrf=True: SameSite=Lax doesn't cover same-site (sibling subdomain) requests; the Origin /
    Sec-Fetch-Site check does."""

    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore, gates: Gates) -> None:
        await http.post("/login", params={"user": "alice"}, headers={"origin": "https://testserver"})

        async def write(headers: dict[str, str]) -> int:
            return (await http.post("/write", params={"key": "k", "value": "v"}, headers=headers)).status_code

        assert await write({"origin": "https://evil.example"}) == 403
        assert await write({"referer": "https://evil.example/page"}) == 403
        assert await write({"sec-fetch-site": "cross-site"}) == 403
        assert await write({"sec-fetch-site": "same-site", "origin": "https://sub.testserver"}) == 403
        assert (await http.get("/me", headers={"origin": "https://evil.example"})).status_code == 200  # safe method
        assert (await store.get(http.cookies["session"])).data == {}  # type: ignore[union-attr]
        assert await write({"origin": "https://testserver"}) == 200
        assert await write({"sec-fetch-site": "same-origin"}) == 200
        assert await write({"sec-fetch-site": "same-site", "origin": "https://app.example"}) == 200  # trusted
        assert await write({}) == 200  # not a browser

    run(async_store, scenario, csrf=True, trusted_origins=["https://app.example/"])
