"""The session as the application sees it, and the record as the store keeps it. No I/O.

A session record is a hash with these fields (integers are decimal milliseconds since the epoch):

| field     | value                                             |
|-----------|---------------------------------------------------|
| `user`    | the user id (UTF-8)                               |
| `hash`    | SHA-256 of the token's secret (32 bytes)          |
| `data`    | the application's data, msgpack                   |
| `meta`    | metadata (ip, user agent...), msgpack             |
| `created` | creation time                                     |
| `seen`    | last time the session was used (sliding expiry)   |
| `idle`    | the idle timeout of this session, in ms           |
| `until`   | the absolute deadline: created + absolute lifetime |

The key's own deadline (and the session's score in the user's index) is always
``min(seen + idle, until)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgpack

FIELDS: Final = (b"user", b"hash", b"data", b"meta", b"created", b"seen", b"idle", b"until")

DEFAULT_IDLE_TTL: Final = timedelta(days=7)
DEFAULT_ABSOLUTE_TTL: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session. ``token`` (the cookie value) is set only by ``create`` and ``rotate``."""

    id: str
    user_id: str
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded session record (see the module docstring)."""

    user_id: str
    secret_hash: bytes
    data: dict[str, Any]
    metadata: dict[str, Any]
    created: int
    seen: int
    idle: int
    until: int

    @property
    def deadline(self) -> int:
        return min(self.seen + self.idle, self.until)

    def fields(self) -> list[bytes]:
        """HSET arguments for the whole record."""
        values = (
            self.user_id.encode("utf-8"),
            self.secret_hash,
            pack(self.data, "data"),
            pack(self.metadata, "metadata"),
            b"%d" % self.created,
            b"%d" % self.seen,
            b"%d" % self.idle,
            b"%d" % self.until,
        )
        return [item for pair in zip(FIELDS, values, strict=True) for item in pair]

    def session(self, session_id: str, token: str | None = None) -> Session:
        return Session(
            id=session_id,
            user_id=self.user_id,
            data=dict(self.data),
            created_at=from_ms(self.created),
            last_seen_at=from_ms(self.seen),
            expires_at=from_ms(self.deadline),
            metadata=dict(self.metadata),
            token=token,
        )


def decode_record(values: object) -> Record | None:
    """A record from an HMGET of FIELDS; None when missing, partial or not ours (never raises)."""
    if not isinstance(values, list) or len(values) != len(FIELDS):
        return None
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    if not all(isinstance(v, bytes) for v in raw):
        return None
    user, secret_hash, data, meta, created, seen, idle, until = raw
    try:
        decoded_data = msgpack.unpackb(data, strict_map_key=False)
        decoded_meta = msgpack.unpackb(meta, strict_map_key=False)
        numbers = int(created), int(seen), int(idle), int(until)
        user_id = user.decode("utf-8")
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if not isinstance(decoded_data, dict) or not isinstance(decoded_meta, dict) or len(secret_hash) != 32:
        return None
    return Record(user_id, secret_hash, decoded_data, decoded_meta, *numbers)


def pack(value: Mapping[str, Any], what: str) -> bytes:
    """msgpack, with a clear TypeError for anything it can't represent (never pickle)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"session {what} must be a mapping, not {type(value).__name__}")
    try:
        return msgpack.packb(dict(value), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(
            f"session {what} must be msgpack-serialisable (dict, list, str, bytes, int, float, bool, None): {exc}"
        ) from None


def to_ms(value: float | timedelta) -> int:
    """A duration in seconds or a timedelta, as whole milliseconds (at least 1)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise ValueError(f"a session lifetime must be positive, got {value!r}")
    return max(1, round(seconds * 1000))


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def user_key(user_id: object) -> str:
    """The user id as the library stores it: a non-empty string (ints are accepted)."""
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        raise TypeError(f"user_id must be a str or an int, not {type(user_id).__name__}")
    text = str(user_id)
    if not text:
        raise ValueError("user_id must not be empty")
    return text
