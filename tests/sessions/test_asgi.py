"""The ASGI middleware in a Starlette app, driven by httpx, on a real kvserver / redis-server;
and the FastAPI example app of docs/ run as it is."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kvsession import AsyncSessionStore
from kvsession.asgi import SessionMiddleware
from tests.support import ServerProcess, session_of

ROOT = Path(__file__).resolve().parents[2]


def make_app(store: AsyncSessionStore, **options: Any) -> Starlette:
    async def login(request: Request) -> JSONResponse:
        session_of(request).login(request.query_params["user"], metadata={"agent": request.headers.get("user-agent")})
        session_of(request)["role"] = "member"
        return JSONResponse({"ok": True})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": session_of(request).user_id, "data": dict(session_of(request))})

    async def write(request: Request) -> JSONResponse:
        session_of(request)[request.query_params["key"]] = request.query_params["value"]
        return JSONResponse({"ok": True})

    async def forget(request: Request) -> JSONResponse:
        del session_of(request)[request.query_params["key"]]
        return JSONResponse({"ok": True})

    async def rotate(request: Request) -> JSONResponse:
        session_of(request).rotate()
        return JSONResponse({"ok": True})

    async def logout(request: Request) -> JSONResponse:
        session_of(request).logout()
        return JSONResponse({"ok": True})

    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/me", me),
        Route("/write", write, methods=["POST"]),
        Route("/forget", forget, methods=["POST"]),
        Route("/rotate", rotate, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app


def with_app(
    server: ServerProcess, scenario: Callable[[httpx.AsyncClient, AsyncSessionStore], Awaitable[None]], **options: Any
) -> None:
    async def main() -> None:
        async with AsyncSessionStore.from_url(f"redis://127.0.0.1:{server.port}/0") as store:
            transport = httpx.ASGITransport(app=make_app(store, **options))
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
                await scenario(http, store)

    asyncio.run(main())


def commands_during(server: ServerProcess, action: Callable[[], Awaitable[object]]) -> Awaitable[int]:
    """How many commands the server ran while ``action`` ran (minus the cost of measuring)."""

    async def measure() -> int:
        with redis.Redis(port=server.port, single_connection_client=True) as r:
            counts = [int(r.info("stats")["total_commands_processed"]) for _ in range(2)]
            await action()
            counts.append(int(r.info("stats")["total_commands_processed"]))
        return (counts[2] - counts[1]) - (counts[1] - counts[0])

    return measure()


def test_login_sets_a_secure_cookie_and_rotates(server: ServerProcess) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore) -> None:
        response = await http.post("/login", params={"user": "alice"})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("session=")
        for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=2591"):
            assert attribute in cookie
        first = http.cookies["session"]
        assert (await http.get("/me")).json() == {"user": "alice", "data": {"role": "member"}}
        await http.post("/login", params={"user": "alice"})  # logging in again: a new token
        second = http.cookies["session"]
        assert second != first
        assert await store.get(first) is None
        assert (await store.get(second)).data == {"role": "member"}  # type: ignore[union-attr]
        assert len(await store.list("alice")) == 1
        await http.post("/rotate")
        assert http.cookies["session"] != second
        assert await store.get(second) is None

    with_app(server, scenario, rotation_grace=0)  # old tokens die at once


def test_the_session_is_written_back_only_when_changed(server: ServerProcess) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore) -> None:
        await http.post("/login", params={"user": "alice"})
        responses: list[httpx.Response] = []

        async def read_only() -> None:
            responses.append(await http.get("/me"))

        assert await commands_during(server, read_only) == 1  # the session's one HMGET, no write
        assert "set-cookie" not in responses[0].headers
        await http.post("/write", params={"key": "theme", "value": "dark"})
        await http.post("/forget", params={"key": "role"})
        assert (await http.get("/me")).json()["data"] == {"theme": "dark"}
        assert (await store.get(http.cookies["session"])).data == {"theme": "dark"}  # type: ignore[union-attr]

    with_app(server, scenario)


def test_logout_and_unknown_cookies_clear_the_cookie(server: ServerProcess) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore) -> None:
        await http.post("/login", params={"user": "alice"})
        token = http.cookies["session"]
        response = await http.post("/logout")
        assert response.headers["set-cookie"].startswith("session=; Max-Age=0")
        assert await store.get(token) is None
        http.cookies.clear()
        response = await http.get("/me", headers={"cookie": "session=forged-token"})
        assert response.json() == {"user": None, "data": {}}
        assert response.headers["set-cookie"].startswith("session=; Max-Age=0")

    with_app(server, scenario)


def test_host_prefixed_cookie(server: ServerProcess) -> None:
    async def scenario(http: httpx.AsyncClient, store: AsyncSessionStore) -> None:
        response = await http.post("/login", params={"user": "bob"})
        assert response.headers["set-cookie"].startswith("__Host-session=")
        assert (await http.get("/me")).json()["user"] == "bob"

    with_app(server, scenario, host_only=True)
    with pytest.raises(ValueError, match="__Host-"):
        SessionMiddleware(make_app, store=None, host_only=True, domain="example.com")  # type: ignore[arg-type]


def test_fastapi_example_app_runs(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_STORE_URL", f"redis://127.0.0.1:{server.port}/0")
    spec = importlib.util.spec_from_file_location("example_app", ROOT / "docs" / "example_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert os.environ["SESSION_STORE_URL"].endswith(f":{server.port}/0")

    async def main() -> None:
        transport = httpx.ASGITransport(app=module.app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="https://testserver") as laptop,
            httpx.AsyncClient(
                transport=transport, base_url="https://testserver", headers={"user-agent": "phone"}
            ) as phone,
        ):
            assert (await laptop.get("/me")).status_code == 401
            await laptop.post("/login", params={"user": "carol"})
            await phone.post("/login", params={"user": "carol"})
            assert (await laptop.post("/visit")).json() == {"visits": 1}
            assert (await laptop.post("/visit")).json() == {"visits": 2}
            assert (await laptop.get("/me")).json() == {"user": "carol", "visits": 2}
            devices = (await phone.get("/sessions")).json()
            assert len(devices) == 2
            assert sum(d["current"] for d in devices) == 1
            assert (await phone.post("/logout-everywhere")).json() == {"revoked": 1}
            assert (await laptop.get("/me")).status_code == 401
            assert (await phone.get("/me")).status_code == 200
            await phone.post("/logout")
            assert (await phone.get("/me")).status_code == 401
        await module.store.aclose()

    asyncio.run(main())
