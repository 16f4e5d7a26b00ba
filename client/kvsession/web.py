"""What the framework adapters share (the ASGI middleware, Flask, Django): a request's view of its
session, its pending login / logout / rotate, and the plan of store calls that commits them, as a
generator (no I/O) that each adapter runs on its own store, awaited or not. The guarantees are
those of docs/sessions.md, "ASGI middleware"."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from kvsession.model import Session, user_key
from kvsession.store import Lifetime

_DELETED: Final = object()

Outcome = tuple[Literal["set"], Session] | tuple[Literal["clear"], None] | None


@dataclass(frozen=True, slots=True)
class StoreCall:
    """One call of the store the plan needs: ``getattr(store, method)(*args, **options)``."""

    method: str
    args: tuple[Any, ...]
    options: dict[str, Any] = field(default_factory=dict)


Plan = Generator[StoreCall, Any, Outcome]


@dataclass(frozen=True, slots=True)
class _Login:
    user_id: str
    metadata: Mapping[str, Any] | None
    remember: bool | None
    ttl: Lifetime | None
    lifetime: Lifetime | None


class SessionState(MutableMapping[str, Any]):
    """The session of one request: a mapping over its data, plus login / logout / rotate. An
    adapter runs ``commit_plan`` (and ``increment_plan``) on its store."""

    def __init__(self, session: Session | None, token: str | None, rotation_grace: float = 0.0) -> None:
        self.session = session
        self.token = token
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

    def increment_plan(self, key: str, by: int) -> Generator[StoreCall, Any, int]:
        """Add ``by`` to an integer in the session (missing counts as 0) with one compare-and-set
        at once; the new value, every concurrent increment counted."""
        if self.session is None or self.token is None or self._login is not None or self._logout:
            value = int(self._data.get(key, 0)) + by  # no stored session yet: applied at commit
            self[key] = value
            return value
        result: list[int] = []

        def add(data: dict[str, Any]) -> dict[str, Any]:
            result[:] = [int(data.get(key, 0)) + by]
            return {**data, key: result[0]}

        if (yield StoreCall("update", (self.token, add))) is None:
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

    @modified.setter
    def modified(self, value: bool) -> None:
        """``session.modified = True`` after changing a value in place (``session["cart"].append``):
        every key is written back, as Flask's own sessions do."""
        if value:
            self._changes.update(self._data)

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
        (True) or a browser-session one (False; default: the adapter's ``remember``);
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

    def gone_plan(self, token: str) -> Plan:
        """The session a token named is gone: clear the cookie, unless a newer token replaced it
        (rotation or login elsewhere in the grace period), whose cookie the browser now holds."""
        return None if (yield StoreCall("was_replaced", (token,))) else ("clear", None)

    def commit_plan(self, remember_by_default: bool) -> Plan:
        """Write the changes; the outcome is ("set", session) or ("clear", None) when the cookie
        changes, None when it doesn't."""
        grace = self._grace or None
        if self._logout:
            if self.token is not None:
                yield StoreCall("revoke", (self.token,))
            return ("clear", None)
        if self._login is not None:
            return (yield from self._login_plan(self._login, remember_by_default, grace))
        if self.session is None or self.token is None:
            return None
        token = self.token
        outcome: Outcome = None
        if self._rotate:
            rotated = yield StoreCall("rotate", (token,), {"grace": grace})
            if rotated is None or rotated.token is None:
                return (yield from self.gone_plan(token))
            token, outcome = rotated.token, ("set", rotated)
        if self._changes and (yield StoreCall("update", (token, self._apply))) is None:
            return (yield from self.gone_plan(token))
        return outcome

    def _login_plan(self, login: _Login, remember_by_default: bool, grace: float | None) -> Plan:
        same_user = self.session is not None and self.session.user_id == login.user_id
        options_kept = login.remember is None and login.ttl is None and login.lifetime is None
        if same_user and options_kept and self.token is not None:
            rotated = yield StoreCall("rotate", (self.token,), {"grace": grace})
            if rotated is not None and rotated.token is not None:
                if self._changes:
                    yield StoreCall("update", (rotated.token, self._apply))
                if login.metadata is not None:
                    yield StoreCall("update", (rotated.token,), {"metadata": login.metadata})
                return ("set", rotated)
        remember = remember_by_default if login.remember is None else login.remember
        options = {"ttl": login.ttl, "lifetime": login.lifetime, "browser_session": not remember}
        created = yield StoreCall("create", (login.user_id, self._data), {**options, "metadata": login.metadata})
        if self.token is not None:
            yield StoreCall("revoke", (self.token,), {"grace": grace})  # in-flight requests keep the new cookie
        return ("set", created)


def grace_seconds(value: float | timedelta) -> float:
    """A rotation grace option, in seconds (never negative)."""
    grace = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if grace < 0:
        raise ValueError("rotation_grace must not be negative")
    return grace


def cookie_max_age(session: Session) -> int | None:
    """The cookie's Max-Age: up to the session's absolute deadline; None for a browser session."""
    if session.browser_session:
        return None
    ends = session.ends_at or session.expires_at
    return max(0, int((ends - datetime.now(UTC)).total_seconds()))


def run_plan(store: Any, plan: Generator[StoreCall, Any, Any]) -> Any:
    """Run a plan on a blocking ``SessionStore``."""
    reply: Any = None
    while True:
        try:
            call = plan.send(reply)
        except StopIteration as done:
            return done.value
        reply = getattr(store, call.method)(*call.args, **call.options)


async def run_plan_async(store: Any, plan: Generator[StoreCall, Any, Any]) -> Any:
    """Run a plan on an ``AsyncSessionStore``."""
    reply: Any = None
    while True:
        try:
            call = plan.send(reply)
        except StopIteration as done:
            return done.value
        reply = await getattr(store, call.method)(*call.args, **call.options)
