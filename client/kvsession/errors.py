"""The library's own exceptions: the same types whatever the backend (the built-in client,
redis-py or valkey-py), so an application catches one set (see docs/sessions.md, "Errors")."""

from __future__ import annotations


class SessionError(Exception):
    """Base class of the library's own errors."""


class StoreUnavailable(SessionError, ConnectionError):
    """The store could not be reached, or the connection broke during an operation."""


class StoreTimeout(StoreUnavailable, TimeoutError):
    """The store did not answer within the configured timeout (or no pooled connection was free)."""


class Conflict(SessionError):
    """An update kept losing the race against concurrent writes to the same session."""


ConcurrencyError = Conflict  # the name before 0.2, kept as an alias


class ResponseError(SessionError):
    """The store answered a command with an error reply (NOAUTH, OOM, MOVED...)."""
