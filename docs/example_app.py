"""A FastAPI app with server-side sessions on kvserver (docs/sessions.md walks through it).

    pip install fastapi uvicorn        # the app's own dependencies, not the library's
    SESSION_STORE_URL=redis://127.0.0.1:6379/0 uvicorn docs.example_app:app

Over plain http (not localhost in Chrome/Firefox) a Secure cookie is not sent back: in
development set SESSION_COOKIE_SECURE=0 (never in production). State changes are POSTs only
(SameSite=Lax does not protect GETs). tests/sessions/test_asgi.py runs it against a real
kvserver and redis-server.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from kvsession import AsyncSessionStore
from kvsession.asgi import SessionMiddleware

store = AsyncSessionStore.from_url(os.environ.get("SESSION_STORE_URL", "redis://127.0.0.1:6379/0"))
app = FastAPI()
secure = os.environ.get("SESSION_COOKIE_SECURE", "1") != "0"
app.add_middleware(SessionMiddleware, store=store, host_only=secure, secure=secure)  # "__Host-session"


@app.post("/login")
async def login(request: Request, user: str) -> dict[str, Any]:
    # a real app checks a password or a passkey first
    request.session.login(user, metadata={"user_agent": request.headers.get("user-agent", "")})
    request.session["visits"] = 0
    return {"user": user}


@app.get("/me")
async def me(request: Request) -> dict[str, Any]:
    if request.session.user_id is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return {"user": request.session.user_id, "visits": request.session.get("visits", 0)}


@app.post("/visit")
async def visit(request: Request) -> dict[str, int]:
    if request.session.user_id is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return {"visits": await request.session.increment("visits")}  # atomic: concurrent visits all count


@app.get("/sessions")
async def sessions(request: Request) -> list[dict[str, Any]]:
    """The user's devices, for a "where you're logged in" page."""
    user = request.session.user_id
    if user is None:
        raise HTTPException(status_code=401, detail="not logged in")
    current = request.session.session
    return [
        {
            "id": s.id,
            "current": current is not None and s.id == current.id,
            "last_seen_at": s.last_seen_at.isoformat(),
            "user_agent": s.metadata.get("user_agent"),
        }
        for s in await store.list(user)
    ]


@app.post("/logout")
async def logout(request: Request) -> dict[str, bool]:
    request.session.logout()
    return {"ok": True}


@app.post("/logout-everywhere")
async def logout_everywhere(request: Request) -> dict[str, int]:
    user = request.session.user_id
    if user is None:
        raise HTTPException(status_code=401, detail="not logged in")
    revoked = await store.revoke_all(user, except_token=request.session.token)
    return {"revoked": revoked}
