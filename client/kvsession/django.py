"""A Django session engine on ``SessionStore``: ``SESSION_ENGINE = "kvsession.django"``.

Settings: ``SESSION_KVSERVER_URL`` (``redis://...``, the built-in client), or
``SESSION_KVSERVER_STORE`` (a ready ``client.SessionStore``, e.g. on a redis-py or RedisCluster
client); ``SESSION_KVSERVER_ROTATION_GRACE`` (seconds, default 10). Django's own session API
works unchanged (``request.session[...]``, ``cycle_key``, ``flush``, ``django.contrib.auth``'s
login and logout); docs/sessions.md, "Django", says what is guaranteed.

The library's sessions belong to a user: a session holds Django's ``_auth_user_id`` as its user,
and a session without one (an anonymous visitor's) gets a user id of its own,
``anonymous:<random>``. A save that changes the user (a login) starts a new session for the new
user with the data, and revokes the old one.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, Final

from django.conf import settings  # type: ignore[import-untyped]
from django.contrib.sessions.backends.base import CreateError, SessionBase  # type: ignore[import-untyped]

from kvsession.model import Session
from kvsession.store import SessionStore as KvStore

AUTH_USER_KEY: Final = "_auth_user_id"  # django.contrib.auth.SESSION_KEY
ANONYMOUS: Final = "anonymous:"
_DELETED: Final = object()
_stores: dict[str, KvStore] = {}
_lock = threading.Lock()


def backend() -> KvStore:
    """The configured store (one built-in store per URL per process)."""
    store = getattr(settings, "SESSION_KVSERVER_STORE", None)
    if store is not None:
        return store  # type: ignore[no-any-return]
    url = getattr(settings, "SESSION_KVSERVER_URL", "redis://127.0.0.1:6379/0")
    with _lock:
        if url not in _stores:
            _stores[url] = KvStore.from_url(url)
        return _stores[url]


def _grace() -> float | None:
    return float(getattr(settings, "SESSION_KVSERVER_ROTATION_GRACE", 10.0)) or None


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The keys a request set (new value) or deleted (_DELETED)."""
    changed: dict[str, Any] = {key: value for key, value in after.items() if key not in before or before[key] != value}
    changed.update({key: _DELETED for key in before if key not in after})
    return changed


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's ``SessionStore`` for ``SESSION_ENGINE = "kvsession.django"``."""

    _session_key: str | None

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._stored: Session | None = None
        self._snapshot: dict[str, Any] = {}

    def _user_for(self, data: dict[str, Any]) -> str:
        user = data.get(AUTH_USER_KEY)
        if user is not None:
            return str(user)
        if self._stored is not None and self._stored.user_id.startswith(ANONYMOUS):
            return self._stored.user_id
        return ANONYMOUS + secrets.token_hex(12)

    def load(self) -> dict[str, Any]:
        stored = backend().get(self.session_key) if self.session_key else None
        if stored is None:
            self._session_key = None
            self._stored, self._snapshot = None, {}
            return {}
        self._stored, self._snapshot = stored, dict(stored.data)
        return dict(stored.data)

    def exists(self, session_key: str | None) -> bool:
        return session_key is not None and backend().get(session_key) is not None

    def create(self) -> None:
        self._session_key = None
        self.save(must_create=True)
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        data: dict[str, Any] = dict(self._get_session(no_load=must_create))
        user = self._user_for(data)
        store = backend()
        token = None if must_create else self.session_key
        if token is not None and self._stored is not None and self._stored.user_id == user:
            changes = _changes(self._snapshot, data)

            def merge(current: dict[str, Any]) -> dict[str, Any]:
                for key, value in changes.items():
                    if value is _DELETED:
                        current.pop(key, None)
                    else:
                        current[key] = value
                return current

            updated = store.update(token, merge) if changes else self._stored
            if updated is not None:
                self._stored, self._snapshot = updated, data
                return
        created = store.create(user, data)
        if created.token is None:
            raise CreateError
        old = self.session_key if not must_create else None
        self._session_key = created.token
        self._stored, self._snapshot = created, data
        if old is not None:
            store.revoke(old, grace=_grace())  # a login: in-flight requests keep the new cookie

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key:
            backend().revoke(key)

    def cycle_key(self) -> None:
        """A new token for the same data (what ``django.contrib.auth.login`` does for the same user,
        or for an anonymous visitor); the old token keeps working for the rotation grace."""
        data = self._session  # loads it
        key = self.session_key
        rotated = backend().rotate(key, grace=_grace()) if key and self._stored is not None else None
        if rotated is None or rotated.token is None:
            super().cycle_key()
            return
        self._session_key = rotated.token
        self._stored = rotated
        self._session_cache = data
        self.modified = True

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the store's TTLs expire sessions."""
