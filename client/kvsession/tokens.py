"""Session tokens: ``<id>.<secret>``, and the keys they map to. Pure functions, no I/O.

* ``id`` = a 4-hex-digit routing tag + 128 random bits (22 base64url characters). The tag is
  the first 16 bits of SHA-256(user id): every key of one user carries it as a Redis Cluster
  hash tag (``{tag}``), so a session and its user's index always share a slot, and the key of a
  session can be computed from the token alone. The id is not secret: it names the session in
  listings and in the store.
* ``secret`` = 256 random bits (43 base64url characters). Only SHA-256(secret) is stored;
  a token is checked with ``hmac.compare_digest`` against it.

A leaked store dump therefore contains ids and hashes, never a usable token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

TAG_CHARS: Final = 4
ID_RANDOM_BYTES: Final = 16  # 128 bits
SECRET_BYTES: Final = 32  # 256 bits
_ID_RE: Final = re.compile(r"[0-9a-f]{4}[A-Za-z0-9_-]{22}")
_SECRET_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_TOKEN_LENGTH: Final = 26 + 1 + 43


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def user_tag(user_id: str) -> str:
    """The routing tag shared by all of a user's keys (16 bits of SHA-256 of the user id)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:TAG_CHARS]


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{self.id}.{self.secret}"

    def __repr__(self) -> str:
        return f"Token(id={self.id!r}, secret=<hidden>)"

    @property
    def tag(self) -> str:
        return self.id[:TAG_CHARS]

    def matches(self, stored_hash: bytes) -> bool:
        """Constant-time comparison of this token's secret with a stored hash."""
        return hmac.compare_digest(hash_secret(self.secret), stored_hash)


def new_token(user_id: str) -> Token:
    return Token(
        user_tag(user_id) + _b64(secrets.token_bytes(ID_RANDOM_BYTES)), _b64(secrets.token_bytes(SECRET_BYTES))
    )


def parse_token(raw: object) -> Token | None:
    """The token in a cookie value, or None if it is not one (never raises)."""
    if not isinstance(raw, str) or len(raw) != MAX_TOKEN_LENGTH:
        return None
    session_id, _, secret = raw.partition(".")
    if not _ID_RE.fullmatch(session_id) or not _SECRET_RE.fullmatch(secret):
        return None
    return Token(session_id, secret)


def is_session_id(raw: object) -> bool:
    return isinstance(raw, str) and _ID_RE.fullmatch(raw) is not None


class KeyLayout:
    """Where a session and a user's index live, under a configurable prefix.

    ``<prefix>{<tag>}:s:<id>``      the session record (a hash)
    ``<prefix>{<tag>}:u:<user id>`` the user's index (a sorted set: session id -> deadline ms)
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "session:") -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not contain '{' or '}' (they delimit the hash tag)")
        self.prefix = prefix

    def session(self, session_id: str) -> bytes:
        return f"{self.prefix}{{{session_id[:TAG_CHARS]}}}:s:{session_id}".encode()

    def index(self, user_id: str) -> bytes:
        return f"{self.prefix}{{{user_tag(user_id)}}}:u:".encode() + user_id.encode("utf-8")
