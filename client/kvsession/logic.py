"""Every session operation, written once, with no I/O.

Each operation is a generator that yields steps (``Call``, ``Watch``, ``Unwatch``, ``Atomic``) and
receives their replies; a driver runs it on one connection, synchronously or with ``await``, on
the built-in RESP client or on a redis-py / valkey-py client. So the sync and async stores share
every line of the logic, and the logic can be tested step by step.

Concurrency (docs/sessions.md has the reasoning):
* create is one MULTI/EXEC: the record, its TTL and the index entry appear together.
* update, refresh, rotate and revoke are compare-and-set: WATCH the session key, read, check,
  then MULTI/EXEC; if the key changed in between, EXEC fails and the step is retried on fresh
  data, after a short random wait (``Pause``). A revoked session can't be resurrected, and
  concurrent updates are never lost.
* revoke_all WATCHes the user's index: a login that commits meanwhile aborts the EXEC, and the
  retry sees (and revokes) it. A session is never outside the index.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

from kvsession.errors import Conflict
from kvsession.model import (
    FIELDS,
    READ_FIELDS,
    Forward,
    Record,
    Session,
    decode_forward,
    decode_record,
    pack,
    user_key,
)
from kvsession.tokens import KeyLayout, Token, hash_secret, is_session_id, new_token, parse_token, user_tag

T = TypeVar("T")
Command = tuple[bytes, ...]

MAX_ATTEMPTS: Final = 32
WATCH_ATTEMPTS: Final = 8  # revoke_all: optimistic rounds before it sweeps instead
SWEEP_ROUNDS: Final = 16


@dataclass(frozen=True, slots=True)
class Call:
    """Send commands (pipelined, not atomic); the reply is the list of their replies."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Watch:
    keys: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Unwatch:
    pass


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait before retrying a compare-and-set that lost a race (the reply is None)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Atomic:
    """MULTI, the commands, EXEC; the reply is their replies, or None if a WATCHed key changed.

    ``idempotent``: applying the commands twice leaves what applying them once does, so a driver
    whose connection broke before the reply may send them again (create's writes, by token).
    """

    commands: tuple[Command, ...]
    idempotent: bool = False


Step = Call | Watch | Unwatch | Atomic | Pause
Operation = Generator[Step, Any, T]
Updater = Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any]]


def _num(value: int) -> bytes:
    return b"%d" % value


def _session_ids(members: list[object]) -> list[str]:
    """The ids in a ZRANGE reply of an index (bytes, or str from a decoding client)."""
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


def backoff(attempt: int) -> Pause | None:
    """No wait before the first try; then a random wait growing to 100 ms, so that writers racing
    for one session spread out instead of colliding again in lockstep."""
    if attempt == 0:
        return None
    return Pause(random.uniform(0, min(0.1, 0.0005 * 2**attempt)))


@dataclass(frozen=True, slots=True)
class Found:
    """The live record a token leads to: its own (``forwarded`` False), or, during the grace
    period after a rotation, the session it moved to."""

    id: str
    record: Record
    forwarded: bool


MAX_HOPS: Final = 8  # a token rotated away this many times within one grace period is dropped


class SessionLogic:
    """The operations of a store with the given lifetimes, key prefix and clock (ms)."""

    def __init__(self, idle_ms: int, absolute_ms: int, layout: KeyLayout, clock: Callable[[], int]) -> None:
        self.idle_ms = idle_ms
        self.absolute_ms = absolute_ms
        self.layout = layout
        self.clock = clock

    # --- helpers --------------------------------------------------------------------------------

    def _fetch(self, session_id: str) -> Operation[list[object]]:
        replies = yield Call(((b"HMGET", self.layout.session(session_id), *READ_FIELDS),))
        values: list[object] = replies[0]
        return values

    def _resolve(self, token: Token) -> Operation[Found | Forward | None]:
        """The live record behind a token whose secret matches; or, for a rotated-away token
        within its grace period, the record it was moved to (following at most MAX_HOPS later
        rotations); or the Forward of a token replaced by another user's login; else None."""
        now = self.clock()
        values = yield from self._fetch(token.id)
        record = decode_record(values)
        if record is not None:
            if not token.matches(record.secret_hash) or record.deadline <= now:
                return None
            return Found(token.id, record, False)
        forward = decode_forward(values)
        if forward is None or not token.matches(forward.secret_hash):
            return None
        first = forward
        for _ in range(MAX_HOPS):
            if forward.until <= now:
                return None
            if not forward.target:
                return first  # replaced: no session, but not an unknown token either
            target = forward.target
            values = yield from self._fetch(target)
            record = decode_record(values)
            if record is not None:
                return Found(target, record, True) if record.deadline > now else None
            hop = decode_forward(values)
            if hop is None:
                return None
            forward = hop
        return None

    def _read(self, token: Token) -> Operation[Found | None]:
        found = yield from self._resolve(token)
        return found if isinstance(found, Found) else None

    def _watch_and_read(self, token: Token) -> Operation[Found | None]:
        """WATCH the token's key, then (for a forwarded token) the key it leads to, and read."""
        yield Watch((self.layout.session(token.id),))
        found = yield from self._read(token)
        if found is not None and found.forwarded:
            yield Watch((self.layout.session(found.id),))
            record = decode_record((yield from self._fetch(found.id)))
            found = Found(found.id, record, True) if record is not None and record.deadline > self.clock() else None
        if found is None:
            yield Unwatch()
        return found

    def _forward(
        self, session_id: str, secret_hash: bytes, target: str, deadline: int, grace_ms: int
    ) -> tuple[Command, ...]:
        """Leave a forward at a session's key for ``grace_ms`` (never past ``deadline``)."""
        until = min(self.clock() + grace_ms, deadline)
        if grace_ms <= 0 or until <= self.clock():
            return ()
        key = self.layout.session(session_id)
        return (
            (b"HSET", key, b"hash", secret_hash, b"moved", target.encode(), b"until", _num(until)),
            (b"PEXPIREAT", key, _num(until)),
        )

    def _wait(self, attempt: int) -> Operation[None]:
        pause = backoff(attempt)
        if pause is not None:
            yield pause

    def _index_deadline(self, index: bytes, deadline: int) -> tuple[Command, ...]:
        """Keep the index alive as long as its longest session (NX sets it, GT only raises it)."""
        return (
            (b"PEXPIREAT", index, _num(deadline), b"NX"),
            (b"PEXPIREAT", index, _num(deadline), b"GT"),
            (b"ZREMRANGEBYSCORE", index, b"-inf", b"(%d" % self.clock()),  # trim expired entries
        )

    def _store(self, session_id: str, record: Record) -> tuple[Command, ...]:
        """Write a whole record with its TTL, and its entry in the user's index."""
        key, index, deadline = self.layout.session(session_id), self.layout.index(record.user_id), record.deadline
        return (
            (b"HSET", key, *record.fields()),
            (b"PEXPIREAT", key, _num(deadline)),
            (b"ZADD", index, _num(deadline), session_id.encode()),
            *self._index_deadline(index, deadline),
        )

    def _needs_refresh(self, record: Record, now: int) -> bool:
        """Sliding expiry, write-throttled: only when less than half the idle window is left."""
        idle_deadline = record.seen + record.idle
        return idle_deadline < record.until and idle_deadline - now < record.idle / 2

    # --- operations -----------------------------------------------------------------------------

    def create(
        self,
        user_id: object,
        data: Mapping[str, Any] | None,
        ttl_ms: int | None,
        metadata: Mapping[str, Any] | None,
        token: Token | None = None,
        lifetime_ms: int | None = None,
        browser: bool = False,
    ) -> Operation[Session]:
        """``ttl_ms`` / ``lifetime_ms``: this session's idle timeout and absolute lifetime (the
        store's by default; an idle timeout longer than the lifetime is refused, not capped).
        ``token``: chosen by the caller so that a retry writes the same session again instead of
        a second one."""
        user = user_key(user_id)
        idle, lifetime = ttl_ms or self.idle_ms, lifetime_ms or self.absolute_ms
        if lifetime_ms is None and ttl_ms is not None:
            lifetime = max(lifetime, ttl_ms)  # a "remember me" ttl alone stretches the lifetime with it
        if idle > lifetime:
            raise ValueError(f"the idle timeout ({idle} ms) is longer than the absolute lifetime ({lifetime} ms)")
        now = self.clock()
        token = token or new_token(user)
        record = Record(
            user,
            hash_secret(token.secret),
            dict(data or {}),
            dict(metadata or {}),
            now,
            now,
            idle,
            now + lifetime,
            browser,
        )
        pack(record.data, "data")  # a clear TypeError before anything is written
        pack(record.metadata, "metadata")
        yield Atomic(self._store(token.id, record), idempotent=True)
        return record.session(token.id, str(token))

    def get(self, raw_token: object) -> Operation[Session | None]:
        token = parse_token(raw_token)
        if token is None:
            return None
        found = yield from self._read(token)
        if found is None:
            return None
        if not found.forwarded and self._needs_refresh(found.record, self.clock()):
            return (yield from self._update(token, None, None))
        return found.record.session(found.id)

    def replaced(self, raw_token: object) -> Operation[bool]:
        """Whether a token that reaches no session was rotated away or replaced by a login within
        the grace period (so a request still carrying it should not clear the newer cookie)."""
        token = parse_token(raw_token)
        if token is None:
            return False
        values = yield from self._fetch(token.id)
        forward = decode_forward(values)
        return forward is not None and token.matches(forward.secret_hash) and forward.until > self.clock()

    def update(
        self, raw_token: object, changes: Updater | None, metadata: Mapping[str, Any] | None
    ) -> Operation[Session | None]:
        token = parse_token(raw_token)
        if token is None:
            return None
        return (yield from self._update(token, changes, metadata))

    def _update(
        self, token: Token, changes: Updater | None, metadata: Mapping[str, Any] | None
    ) -> Operation[Session | None]:
        """Compare-and-set: merge ``changes`` (or apply a function) into the data, refresh if due.
        Through a forwarded token the change lands on the session it moved to, never refreshing it."""
        for attempt in range(MAX_ATTEMPTS):
            yield from self._wait(attempt)
            found = yield from self._watch_and_read(token)
            if found is None:
                return None
            record, key = found.record, self.layout.session(found.id)
            now = self.clock()
            data = record.data
            if callable(changes):
                data = dict(changes(dict(data)))
            elif changes is not None:
                data = {**data, **changes}
            meta = record.metadata if metadata is None else {**record.metadata, **metadata}
            commands: list[Command] = []
            if changes is not None:
                commands.append((b"HSET", key, b"data", pack(data, "data")))
            if metadata is not None:
                commands.append((b"HSET", key, b"meta", pack(meta, "metadata")))
            updated = replace(record, data=data, metadata=meta)
            if not found.forwarded and self._needs_refresh(record, now):
                updated = replace(updated, seen=now)
                index = self.layout.index(record.user_id)
                commands += [
                    (b"HSET", key, b"seen", _num(now)),
                    (b"PEXPIREAT", key, _num(updated.deadline)),
                    (b"ZADD", index, b"XX", _num(updated.deadline), found.id.encode()),
                    *self._index_deadline(index, updated.deadline),
                ]
            if not commands:
                yield Unwatch()
                return updated.session(found.id)
            if (yield Atomic(tuple(commands))) is not None:
                return updated.session(found.id)
        raise Conflict(f"session {token.id} changed {MAX_ATTEMPTS} times while being updated")

    def rotate(self, raw_token: object, grace_ms: int = 0) -> Operation[Session | None]:
        """A new token for the same session data. The old token stops working at once, or, with a
        grace period (``grace_ms``), keeps reaching the session (to read and write it, never to refresh, rotate
        or outlive it) until the period ends."""
        token = parse_token(raw_token)
        if token is None:
            return None
        for attempt in range(MAX_ATTEMPTS):
            yield from self._wait(attempt)
            found = yield from self._watch_and_read(token)
            if found is None:
                return None
            if found.forwarded:  # a token already rotated away can't rotate again
                yield Unwatch()
                return None
            record = found.record
            fresh = new_token(record.user_id)
            rotated = replace(record, secret_hash=hash_secret(fresh.secret), seen=self.clock())
            index = self.layout.index(record.user_id)
            commands = (
                (b"DEL", self.layout.session(token.id)),
                (b"ZREM", index, token.id.encode()),
                *self._store(fresh.id, rotated),
                *self._forward(token.id, record.secret_hash, fresh.id, rotated.deadline, grace_ms),
            )
            if (yield Atomic(commands)) is not None:
                return rotated.session(fresh.id, str(fresh))
        raise Conflict(f"session {token.id} changed {MAX_ATTEMPTS} times while being rotated")

    def revoke(self, raw_token: object, replaced_grace_ms: int = 0) -> Operation[bool]:
        """Revoke the session a token reaches (a forwarded token: the session it moved to, and the
        forward). ``replaced_grace_ms``: a new login took its place; for that long the token is
        remembered as replaced (``replaced()``), reaching nothing."""
        token = parse_token(raw_token)
        if token is None:
            return False
        for attempt in range(MAX_ATTEMPTS):
            yield from self._wait(attempt)
            found = yield from self._watch_and_read(token)
            if found is None:
                return False
            commands: list[Command] = [
                (b"DEL", self.layout.session(found.id)),
                (b"ZREM", self.layout.index(found.record.user_id), found.id.encode()),
            ]
            if found.forwarded:
                commands.append((b"DEL", self.layout.session(token.id)))
            elif replaced_grace_ms:
                record = found.record
                commands += self._forward(token.id, record.secret_hash, "", record.deadline, replaced_grace_ms)
            if (yield Atomic(tuple(commands))) is not None:
                return True
        raise Conflict(f"session {token.id} changed {MAX_ATTEMPTS} times while being revoked")

    def revoke_id(self, user_id: object, session_id: object) -> Operation[bool]:
        """Revoke one of a user's sessions by its public id (a "log out that device" button)."""
        user = user_key(user_id)
        if not is_session_id(session_id):
            return False
        assert isinstance(session_id, str)
        if session_id[:4] != user_tag(user):
            return False
        return (yield from self._revoke(session_id, lambda record: record.user_id == user))

    def _revoke(self, session_id: str, owns: Callable[[Record], bool]) -> Operation[bool]:
        key = self.layout.session(session_id)
        for attempt in range(MAX_ATTEMPTS):
            yield from self._wait(attempt)
            yield Watch((key,))
            replies = yield Call(((b"HMGET", key, *FIELDS),))
            record = decode_record(replies[0])
            if record is None or not owns(record):
                yield Unwatch()
                return False
            commands = ((b"DEL", key), (b"ZREM", self.layout.index(record.user_id), session_id.encode()))
            if (yield Atomic(commands)) is not None:
                return True
        raise Conflict(f"session {session_id} changed {MAX_ATTEMPTS} times while being revoked")

    def revoke_all(self, user_id: object, except_token: object) -> Operation[int]:
        """Revoke every session of the user (except ``except_token``'s); the number revoked.

        First optimistically: WATCH the index, read it, delete all it lists in one EXEC, so at
        that instant the user has no other session. If logins keep committing in between
        (WATCH_ATTEMPTS aborts), sweep instead: delete what the index lists, again, until a
        round finds nothing. Either way every session that exists is in the index, so a login
        that survives a sweep is still listed and revocable.
        """
        user = user_key(user_id)
        index = self.layout.index(user)
        keep = parse_token(except_token) if except_token is not None else None
        kept = (yield from self._read(keep)) if keep is not None and keep.tag == user_tag(user) else None
        keep_id = kept.id if kept is not None else None  # only a live session of this user is spared
        revoked = 0
        for attempt in range(WATCH_ATTEMPTS + SWEEP_ROUNDS):
            sweeping = attempt >= WATCH_ATTEMPTS
            if not sweeping:
                yield from self._wait(attempt)
                yield Watch((index,))
            replies = yield Call(((b"ZRANGE", index, b"0", b"-1"),))
            ids = _session_ids(replies[0])
            victims = [i for i in ids if i != keep_id]
            if sweeping and not victims:
                return revoked
            commands: list[Command] = [(b"DEL", self.layout.session(i)) for i in victims]
            if victims:
                commands.append((b"ZREM", index, *(i.encode() for i in victims)))
            commands.append((b"ZREMRANGEBYSCORE", index, b"-inf", b"(%d" % self.clock()))
            results = yield Atomic(tuple(commands))
            if results is not None:
                revoked += sum(int(n) for n in results[: len(victims)])
                if not sweeping:
                    return revoked
        return revoked

    def list(self, user_id: object) -> Operation[list[Session]]:
        """The user's live sessions, most recently used first, without tokens."""
        user = user_key(user_id)
        index = self.layout.index(user)
        now = self.clock()
        replies = yield Call(
            (
                (b"ZREMRANGEBYSCORE", index, b"-inf", b"(%d" % now),
                (b"ZRANGE", index, b"(%d" % now, b"+inf", b"BYSCORE"),
            )
        )
        ids = _session_ids(replies[1])
        if not ids:
            return []
        records = yield Call(tuple((b"HMGET", self.layout.session(i), *FIELDS) for i in ids))
        sessions = []
        for session_id, values in zip(ids, records, strict=True):
            record = decode_record(values)
            if record is not None and record.user_id == user and record.deadline > now:
                sessions.append(record.session(session_id))
        sessions.sort(key=lambda s: s.last_seen_at, reverse=True)
        return sessions
