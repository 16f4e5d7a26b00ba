"""A pure-ASGI session middleware (no framework dependency) on ``AsyncSessionStore``.

It reads the session cookie, loads the session into ``scope["session"]`` (a ``RequestSession``,
which Starlette and FastAPI expose as ``request.session``), and when the response starts it
writes back only what changed:

* data changes become one compare-and-set ``update`` of just the keys set or deleted, so two
  concurrent requests of the same user never undo each other;
* ``login(user_id)`` creates a fresh session (new token, the current data carried over) and
  revokes the previous one: the session-fixation defence;
* ``rotate()`` issues a new token for the same session; ``logout()`` revokes it and clears the
  cookie. A cookie that doesn't name a live session is cleared too.

Cookies are ``HttpOnly; Secure; SameSite=Lax; Path=/`` by default, with ``host_only=True`` for
the ``__Host-`` name prefix. The cookie lives until the session's absolute deadline; the store
enforces the idle timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from client.model import Session
from client.store import AsyncSessionStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DELETED: Final = object()


class RequestSession(MutableMapping[str, Any]):
    """The session of one request: a mapping over its data, plus login / logout / rotate."""

    def __init__(self, session: Session | None, token: str | None) -> None:
        self.session = session
        self.token = token
        self._data: dict[str, Any] = dict(session.data) if session is not None else {}
        self._changes: dict[str, Any] = {}  # key -> new value, or _DELETED
        self._login: tuple[str | int, Mapping[str, Any] | None] | None = None
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

    @property
    def user_id(self) -> str | None:
        return self.session.user_id if self.session is not None else None

    @property
    def modified(self) -> bool:
        return bool(self._changes)

    # --- lifecycle ------------------------------------------------------------------------------

    def login(self, user_id: str | int, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Start a new session for ``user_id`` with a new token; the previous session is revoked."""
        self._login = (user_id, metadata)
        self._logout = False

    def logout(self) -> None:
        self._logout = True
        self._login = None
        self._data.clear()

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

    async def commit(self, store: AsyncSessionStore) -> tuple[str, Session | None] | None:
        """Write the changes; returns ("set", session) or ("clear", None) when the cookie changes."""
        if self._logout:
            if self.token is not None:
                await store.revoke(self.token)
            return ("clear", None)
        if self._login is not None:
            user_id, metadata = self._login
            created = await store.create(user_id, self._data, metadata=metadata)
            if self.token is not None:
                await store.revoke(self.token)
            return ("set", created)
        if self.session is None or self.token is None:
            return ("clear", None) if self.token is not None else None
        token, cookie = self.token, None
        if self._rotate:
            rotated = await store.rotate(token)
            if rotated is None:
                return ("clear", None)
            token, cookie = rotated.token or token, ("set", rotated)
        if self._changes and await store.update(token, self._apply) is None:
            return ("clear", None)
        return cookie


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
    ) -> None:
        if host_only and (domain is not None or path != "/" or not secure):
            raise ValueError("a __Host- cookie must be Secure, with Path=/ and no Domain")
        self.app = app
        self.store = store
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
        state = RequestSession(session, token)
        scope["session"] = state
        if scope["type"] == "websocket":  # no response headers to carry a cookie: read-only
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome = await state.commit(self.store)
                if outcome is None and session is None and token is not None:
                    outcome = ("clear", None)  # a cookie that names no live session
                if outcome is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", self._cookie(*outcome).encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, action: str, session: Session | None) -> str:
        if action == "clear" or session is None or session.token is None:
            return f"{self.cookie_name}=; Max-Age=0; {self._attributes}"
        absolute = session.created_at + self.store.absolute_ttl
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
