"""Secure server-side sessions on kvserver, Redis or Valkey (see docs/sessions.md).

from kvsession import SessionStore

store = SessionStore.from_url("redis://127.0.0.1:6379/0")
session = store.create("user-42", {"theme": "dark"}, metadata={"ip": "203.0.113.7"})
cookie_value = session.token          # only create() and rotate() return it
store.get(cookie_value)               # -> Session, or None for anything not live
"""

from kvsession.errors import ConcurrencyError, Conflict, ResponseError, SessionError, StoreTimeout, StoreUnavailable
from kvsession.model import Session
from kvsession.store import AsyncSessionStore, SessionStore

__all__ = [
    "AsyncSessionStore",
    "ConcurrencyError",
    "Conflict",
    "ResponseError",
    "Session",
    "SessionError",
    "SessionStore",
    "StoreTimeout",
    "StoreUnavailable",
]
