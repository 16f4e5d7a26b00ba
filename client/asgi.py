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
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from client.model import Session, user_key
from client.store import AsyncSessionStore, Lifetime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DELETED: Final = object()
_COOKIE_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 token
_ATTRIBUTE: Final = re.compile(r"[^;,\s\x00-\x1f\x7f]+")
DEFAULT_ROTATION_GRACE: Final = 10.0

Outcome = tuple[Literal["set"], Session] | tuple[Literal["clear"], None] | None


@dataclass(frozen=True, slots=True)
class _Login:
    user_id: str
    metadata: Mapping[str, Any] | None
    remember: bool | None
    ttl: Lifetime | None
    lifetime: Lifetime | None


class RequestSession(MutableMapping[str, Any]):
    """The session of one request: a mapping over its data, plus login / logout / rotate."""

    def __init__(
        self, session: Session | None, token: str | None, store: AsyncSessionStore, rotation_grace: float = 0.0
    ) -> None:
        self.session = session
        self.token = token
        self._store = store
        self._grace = rotation_grace
        self._data: dict[str, Any] = dict(session.data) if session is not None else {}
        self._changes: dict[str, Any] = {}  # key -> new value, or _DELETED
        self._login: _Login | None = None
        self._logout = False
        self._rotate = False

    # --- the data -------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    async def increment(self, key: str, by: int = 1) -> int:
        """Add ``by`` to an integer in the session (missing counts as 0), atomically, at once: the
        new value, with every concurrent increment counted."""
        if self.session is None or self.token is None or self._login is not None or self._logout:
            value = int(self._data.get(key, 0)) + by  # no stored session yet: applied at commit
            self[key] = value
            return value
        result: list[int] = []

        def add(data: dict[str, Any]) -> dict[str, Any]:
            result[:] = [int(data.get(key, 0)) + by]
            return {**data, key: result[0]}

        updated = await self._store.update(self.token, add)
        if updated is None:
            raise LookupError("the session ended during the request")
        self._data[key] = result[0]
        return result[0]

    @property
    def user_id(self) -> str | None:
        """The session's user; after ``login`` in this request the new user, after ``logout`` None."""
        if self._logout:
            return None
        if self._login is not None:
            return self._login.user_id
        return self.session.user_id if self.session is not None else None

    @property
    def modified(self) -> bool:
        return bool(self._changes)

    # --- lifecycle ------------------------------------------------------------------------------

    def login(
        self,
        user_id: str | int,
        *,
        metadata: Mapping[str, Any] | None = None,
        remember: bool | None = None,
        ttl: Lifetime | None = None,
        lifetime: Lifetime | None = None,
    ) -> None:
        """Start a session for ``user_id``, with a new token. Another user's data is dropped (the
        new session starts empty); the same user's is kept. ``remember``: a persistent cookie
        (True) or a browser-session one (False; default: the middleware's ``remember``);
        ``ttl`` / ``lifetime``: this session's idle timeout and absolute lifetime."""
        user = user_key(user_id)
        if self.user_id is not None and self.user_id != user:
            self._data.clear()
            self._changes.clear()
        self._login = _Login(user, metadata, remember, ttl, lifetime)
        self._logout = False

    def logout(self) -> None:
        self._logout = True
        self._login = None
        self._data.clear()
        self._changes.clear()

    def rotate(self) -> None:
        """A new token for this session (e.g. after a privilege change)."""
        self._rotate = True

    def _apply(self, current: dict[str, Any]) -> dict[str, Any]:
        for key, value in self._changes.items():
            if value is _DELETED:
                current.pop(key, None)
            else:
                current[key] = value
        return current

    async def _gone(self, token: str) -> Outcome:
        """The session a token named is gone: clear the cookie, unless a newer token replaced it
        (rotation or login elsewhere in the grace period), whose cookie the browser now holds."""
        return None if await self._store.was_replaced(token) else ("clear", None)

    async def commit(self, remember_by_default: bool) -> Outcome:
        """Write the changes; returns ("set", session) or ("clear", None) when the cookie changes."""
        store, grace = self._store, self._grace or None
        if self._logout:
            if self.token is not None:
                await store.revoke(self.token)
            return ("clear", None)
        if self._login is not None:
            login = self._login
            same_user = self.session is not None and self.session.user_id == login.user_id
            options_kept = login.remember is None and login.ttl is None and login.lifetime is None
            if same_user and options_kept and self.token is not None:
                rotated = await store.rotate(self.token, grace=grace)
                if rotated is not None and rotated.token is not None:
                    if self._changes:
                        await store.update(rotated.token, self._apply)
                    if login.metadata is not None:
                        await store.update(rotated.token, metadata=login.metadata)
                    return ("set", rotated)
            remember = remember_by_default if login.remember is None else login.remember
            created = await store.create(
                login.user_id,
                self._data,
                ttl=login.ttl,
                lifetime=login.lifetime,
                browser_session=not remember,
                metadata=login.metadata,
            )
            if self.token is not None:
                await store.revoke(self.token, grace=grace)  # in-flight requests keep the new cookie
            return ("set", created)
        if self.session is None or self.token is None:
            return None
        token = self.token
        outcome: Outcome = None
        if self._rotate:
            rotated = await store.rotate(token, grace=grace)
            if rotated is None or rotated.token is None:
                return await self._gone(token)
            token, outcome = rotated.token, ("set", rotated)
        if self._changes and await store.update(token, self._apply) is None:
            return await self._gone(token)
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
        grace = rotation_grace.total_seconds() if isinstance(rotation_grace, timedelta) else float(rotation_grace)
        if grace < 0:
            raise ValueError("rotation_grace must not be negative")
        self.app = app
        self.store = store
        self.remember = remember
        self.rotation_grace = grace
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
                    outcome = await state._gone(token)  # a cookie that names no live session
                if outcome is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", self._cookie(outcome).encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, outcome: Outcome) -> str:
        if outcome is None or outcome[0] == "clear" or outcome[1].token is None:
            return f"{self.cookie_name}=; Max-Age=0; {self._attributes}"
        session = outcome[1]
        if session.browser_session:
            return f"{self.cookie_name}={session.token}; {self._attributes}"
        absolute = session.ends_at or session.expires_at
        max_age = max(0, int((absolute - datetime.now(UTC)).total_seconds()))
        return f"{self.cookie_name}={session.token}; Max-Age={max_age}; {self._attributes}"


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
