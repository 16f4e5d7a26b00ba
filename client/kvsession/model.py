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
| `browser` | 1 for a browser-session cookie, else 0 (absent before 0.2: 0) |

During a rotation's grace period the old session's key holds a forward instead: `hash` (the
old secret's), `moved` (the new session id; empty when another user's login replaced it) and
`until` (the end of the grace period), with that as its TTL.

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
# read with FIELDS: ``browser`` (1: a browser-session cookie; absent in records before 0.2) and
# ``moved``, which only a forward has (see ``Forward``)
READ_FIELDS: Final = (*FIELDS, b"browser", b"moved")

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
    browser_session: bool = False  # its cookie should end with the browser session (no Max-Age)
    ends_at: datetime | None = None  # the absolute deadline, however it is used


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
    browser: bool = False

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
        pairs = [item for pair in zip(FIELDS, values, strict=True) for item in pair]
        return [*pairs, b"browser", b"1" if self.browser else b"0"]

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
            browser_session=self.browser,
            ends_at=from_ms(self.until),
        )


@dataclass(frozen=True, slots=True)
class Forward:
    """What a rotated-away (or replaced) token's key holds during the grace period: the old
    secret's hash, the id of the session it moved to (empty: replaced by another user's login,
    so no session), and the end of the grace period (ms). Fields ``hash``, ``moved``, ``until``."""

    secret_hash: bytes
    target: str
    until: int


def decode_forward(values: object) -> Forward | None:
    """A forward from an HMGET of READ_FIELDS; None if the key holds none (never raises)."""
    if not isinstance(values, list) or len(values) != len(READ_FIELDS):
        return None
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    secret_hash, until, moved = raw[1], raw[7], raw[-1]
    if not isinstance(secret_hash, bytes) or not isinstance(until, bytes) or not isinstance(moved, bytes):
        return None
    if raw[0] is not None or len(secret_hash) != 32:
        return None
    try:
        return Forward(secret_hash, moved.decode("ascii"), int(until))
    except (ValueError, UnicodeDecodeError):
        return None


def decode_record(values: object) -> Record | None:
    """A record from an HMGET of FIELDS (or READ_FIELDS); None when missing, partial or not ours
    (never raises)."""
    if not isinstance(values, list) or len(values) not in (len(FIELDS), len(READ_FIELDS)):
        return None
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    browser = len(raw) > len(FIELDS) and raw[len(FIELDS)] == b"1"
    raw = raw[: len(FIELDS)]
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
    return Record(user_id, secret_hash, decoded_data, decoded_meta, *numbers, browser=browser)


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
