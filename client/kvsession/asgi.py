"""A pure-ASGI session middleware (no framework dependency) on ``AsyncSessionStore``.

It reads the session cookie, loads the session into ``scope["session"]`` (a ``RequestSession``,
which Starlette and FastAPI expose as ``request.session``), and when the response starts it
writes back only what changed. What is guaranteed (docs/sessions.md, "ASGI middleware"):

* the keys a request set or deleted are applied, by compare-and-set, onto the latest stored
  data: keys other requests wrote meanwhile are kept (per key, the last writer wins);
  ``await request.session.increment(key)`` is atomic: concurrent increments are never lost;
* ``login(user_id)`` for a different user than the session's starts from empty data (a new
  session; the old one is revoked). Logging in again as the same user keeps the data and
  rotates the token. A visitor without a session who sets data and logs in, in the same
  request, keeps that data (there are no stored anonymous sessions);
* ``rotate()`` (and a same-user login) leaves the old token working for ``rotation_grace``
  seconds for requests already in flight: they read and write the rotated session, can't
  refresh, rotate or outlive it, and don't clear the new cookie; a token replaced by another
  user's login reaches nothing in that window, and its requests don't clear the new cookie;
* ``logout()`` revokes the session and clears the cookie; ``user_id`` is None from then on.

Cookies are ``HttpOnly; Secure; SameSite=Lax; Path=/`` by default, with ``host_only=True`` for
the ``__Host-`` name prefix. A persistent cookie lives until the session's absolute deadline;
``login(..., remember=False)`` sets a browser-session cookie (no Max-Age). The store enforces
the idle timeout either way.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from kvsession.model import Session
from kvsession.store import AsyncSessionStore
from kvsession.web import Outcome, SessionState, cookie_max_age, grace_seconds, run_plan_async

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_COOKIE_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 token
_ATTRIBUTE: Final = re.compile(r"[^;,\s\x00-\x1f\x7f]+")
DEFAULT_ROTATION_GRACE: Final = 10.0


class RequestSession(SessionState):
    """``scope["session"]``: the request's session (``kvsession.web.SessionState``) on an
    ``AsyncSessionStore``."""

    def __init__(
        self, session: Session | None, token: str | None, store: AsyncSessionStore, rotation_grace: float = 0.0
    ) -> None:
        super().__init__(session, token, rotation_grace)
        self._store = store

    async def increment(self, key: str, by: int = 1) -> int:
        """Add ``by`` to an integer in the session, atomically, at once; the new value."""
        value: int = await run_plan_async(self._store, self.increment_plan(key, by))
        return value

    async def commit(self, remember_by_default: bool) -> Outcome:
        outcome: Outcome = await run_plan_async(self._store, self.commit_plan(remember_by_default))
        return outcome

    async def gone(self, token: str) -> Outcome:
        outcome: Outcome = await run_plan_async(self._store, self.gone_plan(token))
        return outcome


class SessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: AsyncSessionStore,
        *,
        cookie_name: str = "session",
        host_only: bool = False,
        secure: bool = True,
        same_site: Literal["lax", "strict", "none"] = "lax",
        path: str = "/",
        domain: str | None = None,
        remember: bool = True,
        rotation_grace: float | timedelta = DEFAULT_ROTATION_GRACE,
        csrf: bool = False,
        trusted_origins: Sequence[str] = (),
    ) -> None:
        if not _COOKIE_NAME.fullmatch(cookie_name):
            raise ValueError(f"invalid cookie name {cookie_name!r}")
        if same_site not in ("lax", "strict", "none"):
            raise ValueError(f"same_site must be 'lax', 'strict' or 'none', not {same_site!r}")
        if same_site == "none" and not secure:
            raise ValueError("same_site='none' requires secure=True (browsers reject SameSite=None without Secure)")
        if not path.startswith("/") or not _ATTRIBUTE.fullmatch(path):
            raise ValueError(f"invalid cookie path {path!r}")
        if domain is not None and not _ATTRIBUTE.fullmatch(domain):
            raise ValueError(f"invalid cookie domain {domain!r}")
        if host_only and (domain is not None or path != "/" or not secure):
            raise ValueError("a __Host- cookie must be Secure, with Path=/ and no Domain")
        grace = grace_seconds(rotation_grace)
        self.app = app
        self.store = store
        self.remember = remember
        self.rotation_grace = grace
        self.csrf = csrf
        self.trusted_origins = frozenset(origin.rstrip("/").lower() for origin in trusted_origins)
        self.cookie_name = f"__Host-{cookie_name}" if host_only else cookie_name
        attributes = [f"Path={path}", "HttpOnly"]
        if domain is not None:
            attributes.append(f"Domain={domain}")
        if secure:
            attributes.append("Secure")
        attributes.append(f"SameSite={same_site.capitalize()}")
        self._attributes = "; ".join(attributes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.csrf and scope["type"] == "http" and self._cross_site(scope):
            await refuse(send)
            return
        token = read_cookie(scope, self.cookie_name)
        session = await self.store.get(token) if token is not None else None
        state = RequestSession(session, token, self.store, self.rotation_grace)
        scope["session"] = state
        if scope["type"] == "websocket":  # no response headers to carry a cookie: read-only
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome = await state.commit(self.remember)
                if outcome is None and session is None and token is not None:
                    outcome = await state.gone(token)  # a cookie that names no live session
                if outcome is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", self._cookie(outcome).encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, outcome: Outcome) -> str:
        if outcome is None or outcome[0] == "clear" or outcome[1].token is None:
            return f"{self.cookie_name}=; Max-Age=0; {self._attributes}"
        max_age = cookie_max_age(outcome[1])
        lifetime = "" if max_age is None else f" Max-Age={max_age};"
        return f"{self.cookie_name}={outcome[1].token};{lifetime} {self._attributes}"

    def _cross_site(self, scope: Scope) -> bool:
        """An unsafe request (not GET/HEAD/OPTIONS/TRACE) sent by another site: ``Sec-Fetch-Site``
        says so, or ``Origin`` (else ``Referer``) is neither this origin nor a trusted one. A
        request with none of them (not a current browser) passes."""
        if scope.get("method", "GET") in SAFE_METHODS:
            return False
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site not in ("same-origin", "none") and not self._trusted(headers.get("origin"))
        source = headers.get("origin") or headers.get("referer")
        if source is None:
            return False
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        parts = urlsplit(source)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        return origin != own and not self._trusted(origin)

    def _trusted(self, origin: str | None) -> bool:
        return origin is not None and origin.rstrip("/").lower() in self.trusted_origins


SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


async def refuse(send: Send) -> None:
    body = b"cross-site request refused"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_cookie(scope: Scope, name: str) -> str | None:
    """The value of cookie ``name`` in the request's Cookie headers, if any."""
    for header, value in scope.get("headers", ()):
        if header != b"cookie":
            continue
        text: str = value.decode("latin-1")
        for part in text.split(";"):
            key, sep, item = part.strip().partition("=")
            if sep and key == name:
                return item.strip().strip('"')
    return None
