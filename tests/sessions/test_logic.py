"""The session operations driven step by step on kvserver's real keyspace, in process.

``kvsession.logic`` operations are generators of steps; here each runs on its own ``ClientState`` of
an in-process ``kvserver.database.Database`` (real WATCH/MULTI/EXEC, real expiry), with the
built-in driver's own step encoding. That makes concurrency testable exactly: hypothesis
chooses which operation advances next, so every interleaving of create, rotate, revoke and
revoke_all can be explored, and the invariants are checked after every step.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvserver.database import Database
from kvserver.state import ClientState
from kvserver.zset import ZSet
from kvsession.drivers import advance, drive, step_commands, step_result
from kvsession.errors import Conflict
from kvsession.logic import Atomic, SessionLogic, Step
from kvsession.model import FIELDS, Session, decode_record
from kvsession.tokens import KeyLayout, parse_token
from tests.support import Clock

NOW = 1_800_000_000_000
DAY = 86_400_000


def start_clock() -> Clock:
    clock = Clock()
    clock.now = NOW
    return clock


@dataclass
class World:
    """One in-process kvserver database and the session logic on it, sharing a clock."""

    clock: Clock = field(default_factory=start_clock)
    db: Database = field(init=False)
    logic: SessionLogic = field(init=False)

    def __post_init__(self) -> None:
        self.db = Database(clock=self.clock)
        self.logic = SessionLogic(7 * DAY, 30 * DAY, KeyLayout("session:"), self.clock)

    def connection(self) -> ClientState:
        client = self.db.clients.new()
        self.db.clients.add(client)
        return client

    def perform(self, client: ClientState, step: Step) -> object:
        return step_result(step, [self.db.execute(client, list(command)) for command in step_commands(step)])

    def run(self, operation: Generator[Step, Any, Any]) -> Any:
        client = self.connection()
        return drive(operation, lambda step: self.perform(client, step))

    # what the store holds, read directly

    def session_keys(self) -> set[bytes]:
        return {key for key in self.db.keyspace.live_keys() if b":s:" in key}

    def indexed(self) -> dict[bytes, set[bytes]]:
        """Index key -> the session ids it holds."""
        result = {}
        for key in self.db.keyspace.live_keys():
            if b":u:" in key:
                value = self.db.keyspace.get(key)
                assert isinstance(value, ZSet)
                result[key] = {member for _, member in value}
        return result

    def record(self, session_key: bytes) -> Any:
        return decode_record(self.db.execute(self.connection(), [b"HMGET", session_key, *FIELDS]))


@pytest.fixture
def world() -> World:
    return World()


def test_create_writes_a_hashed_record_its_ttl_and_an_index_entry(world: World) -> None:
    session = world.run(world.logic.create("alice", {"cart": [1]}, None, {"ip": "203.0.113.9"}))
    token = parse_token(session.token)
    assert token is not None
    key = world.logic.layout.session(token.id)
    record = world.record(key)
    assert record.secret_hash != token.secret.encode()
    assert token.secret.encode() not in repr(world.db.keyspace.data).encode()  # only the hash is stored
    assert world.db.keyspace.deadline(key) == NOW + 7 * DAY
    assert world.indexed() == {world.logic.layout.index("alice"): {token.id.encode()}}
    assert session.expires_at.timestamp() * 1000 == NOW + 7 * DAY
    assert world.run(world.logic.get(session.token)) == session


def test_sliding_refresh_is_throttled_and_capped_by_the_absolute_deadline(world: World) -> None:
    session = world.run(world.logic.create("alice", None, None, None))
    key = world.logic.layout.session(session.id)
    world.clock.now += 3 * DAY  # more than half the idle window left: no write
    assert world.run(world.logic.get(session.token)).last_seen_at == session.last_seen_at
    assert world.db.keyspace.deadline(key) == NOW + 7 * DAY
    world.clock.now = NOW + 4 * DAY  # less than half left: refresh
    refreshed = world.run(world.logic.get(session.token))
    assert world.db.keyspace.deadline(key) == NOW + 11 * DAY
    assert refreshed.expires_at.timestamp() * 1000 == NOW + 11 * DAY
    for day in (8, 12, 16, 20, 24, 27):  # keep using it: slides until the absolute deadline caps it
        world.clock.now = NOW + day * DAY
        assert world.run(world.logic.get(session.token)) is not None
    assert world.db.keyspace.deadline(key) == NOW + 30 * DAY
    world.clock.now = NOW + 30 * DAY
    assert world.run(world.logic.get(session.token)) is None
    assert key not in world.session_keys()


def test_per_session_ttl_overrides_the_idle_timeout(world: World) -> None:
    session = world.run(world.logic.create("alice", None, 60_000, None))
    world.clock.now += 60_000
    assert world.run(world.logic.get(session.token)) is None


def test_bad_tokens_are_none_never_errors(world: World) -> None:
    session = world.run(world.logic.create("alice", None, None, None))
    assert session.token is not None
    tampered = session.token[:-1] + ("A" if session.token[-1] != "A" else "B")
    for bad in (None, "", "x", 42, session.token + "x", tampered, session.token.replace(".", "-"), "é" * 70):
        assert world.run(world.logic.get(bad)) is None
        assert world.run(world.logic.update(bad, {"x": 1}, None)) is None
        assert world.run(world.logic.rotate(bad)) is None
        assert world.run(world.logic.revoke(bad)) is False
    assert world.run(world.logic.get(session.token)) is not None


def test_update_merges_applies_functions_and_never_resurrects(world: World) -> None:
    session = world.run(world.logic.create("alice", {"a": 1}, None, None))
    world.run(world.logic.update(session.token, {"b": 2}, {"ip": "x"}))
    updated = world.run(world.logic.update(session.token, lambda d: {**d, "a": d["a"] + 1}, None))
    assert updated.data == {"a": 2, "b": 2}
    assert updated.metadata == {"ip": "x"}
    # an update in flight when the session is revoked must not bring it back
    pending = world.logic.update(session.token, {"c": 3}, None)
    updater = world.connection()
    world.perform(updater, next(pending))  # WATCH
    read = world.perform(updater, pending.send(None))  # the read
    assert world.run(world.logic.revoke(session.token)) is True
    assert finish(world, updater, pending, read) is None  # EXEC failed, the retry found nothing
    assert world.session_keys() == set()


def finish(world: World, client: ClientState, operation: Generator[Step, Any, Any], reply: object) -> Any:
    """Run an operation that is under way to its end on its own connection."""
    done, item = advance(operation, reply)
    while not done:
        done, item = advance(operation, world.perform(client, item))
    return item


def test_update_gives_up_after_endless_contention(world: World) -> None:
    session = world.run(world.logic.create("alice", {"n": 0}, None, None))
    pending = world.logic.update(session.token, {"x": 1}, None)
    client = world.connection()

    def contend() -> None:
        reply: object = None
        while True:
            step = pending.send(reply)
            reply = world.perform(client, step)
            if type(step).__name__ == "Call":  # someone else writes between every read and EXEC
                world.run(world.logic.update(session.token, {"n": 1}, None))

    with pytest.raises(Conflict):
        contend()


def test_rotate_moves_everything_to_a_new_token(world: World) -> None:
    session = world.run(world.logic.create("alice", {"a": 1}, None, {"ip": "x"}))
    world.clock.now += DAY
    rotated = world.run(world.logic.rotate(session.token))
    assert rotated.id != session.id
    assert rotated.token != session.token
    assert (rotated.data, rotated.metadata, rotated.created_at) == (session.data, session.metadata, session.created_at)
    assert world.run(world.logic.get(session.token)) is None
    assert world.run(world.logic.get(rotated.token)) is not None
    assert world.indexed() == {world.logic.layout.index("alice"): {rotated.id.encode()}}


def test_revoke_all_except_current_and_list(world: World) -> None:
    sessions = [world.run(world.logic.create("alice", None, None, {"n": i})) for i in range(3)]
    other = world.run(world.logic.create("bob", None, None, None))
    world.clock.now += 1000
    world.run(world.logic.get(sessions[1].token))
    listed = world.run(world.logic.list("alice"))
    assert {s.id for s in listed} == {s.id for s in sessions}
    assert all(s.token is None for s in listed)
    assert world.run(world.logic.revoke_all("alice", sessions[0].token)) == 2
    assert [s.id for s in world.run(world.logic.list("alice"))] == [sessions[0].id]
    assert world.run(world.logic.revoke_all("alice", other.token)) == 1  # bob's token spares nothing of alice's
    assert world.run(world.logic.get(other.token)) is not None
    assert world.run(world.logic.revoke_id("bob", sessions[0].id)) is False  # not bob's
    assert world.run(world.logic.revoke_id("bob", other.id)) is True
    assert world.session_keys() == set()


def test_revoke_all_falls_back_to_sweeping_when_logins_keep_racing_it(world: World) -> None:
    for _ in range(3):
        world.run(world.logic.create("alice", None, None, None))
    client = world.connection()

    def login_then_perform(step: Step) -> object:
        if isinstance(step, Atomic):  # a login commits right before each of its EXECs
            world.run(world.logic.create("alice", None, None, None))
        return world.perform(client, step)

    revoked = drive(world.logic.revoke_all("alice", None), login_then_perform)
    assert revoked > 3  # it gave up on WATCH and swept, round after round, without failing
    assert len(world.session_keys()) == 1  # only the login that raced its last round survives...
    check_every_session_is_indexed(world)  # ...and it is indexed, so it is listed and revocable


def test_index_is_trimmed_and_expires(world: World) -> None:
    short = world.run(world.logic.create("alice", None, 1000, None))
    long = world.run(world.logic.create("alice", None, None, None))
    index = world.logic.layout.index("alice")
    world.clock.now += 2000
    world.db.keyspace.purge_expired(world.clock.now, 100)  # the short session's key expires...
    assert world.indexed() == {index: {short.id.encode(), long.id.encode()}}  # ...its entry lingers
    assert [s.id for s in world.run(world.logic.list("alice"))] == [long.id]
    assert world.indexed() == {index: {long.id.encode()}}  # trimmed by normal operation
    world.clock.now += 7 * DAY  # the index lives as long as its longest session, then goes too
    world.db.keyspace.purge_expired(world.clock.now, 100)
    assert world.indexed() == {}


# --- interleavings ------------------------------------------------------------------------------

USERS = ("alice", "bob")


@dataclass
class Running:
    name: str
    user: str
    target: str | None
    operation: Generator[Step, Any, Any]
    client: ClientState
    reply: object = None
    result: object = None
    done: bool = False
    committed: int = -1  # when its last step (the EXEC that decided it) ran


def check_every_session_is_indexed(world: World) -> None:
    indexed = world.indexed()
    for key in world.session_keys():
        record = world.record(key)
        assert record is not None, key
        index = world.logic.layout.index(record.user_id)
        session_id = key.rsplit(b":", 1)[1]
        assert session_id in indexed.get(index, set()), f"{key!r} is not in its user's index"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["create", "rotate", "revoke", "revoke_all"]), st.sampled_from(USERS)),
        min_size=2,
        max_size=8,
    ),
    st.lists(st.integers(min_value=0, max_value=7), max_size=200),
    st.integers(min_value=1, max_value=3),
)
@pytest.mark.slow
def test_any_interleaving_keeps_the_invariants(plan: list[tuple[str, str]], schedule: list[int], existing: int) -> None:
    world = World()
    initial = {
        user: [world.run(world.logic.create(user, None, None, None)).token for _ in range(existing)] for user in USERS
    }
    running: list[Running] = []
    for i, (name, user) in enumerate(plan):
        target = initial[user][i % existing]
        operation: Generator[Step, Any, Any]
        if name == "create":
            operation, target = world.logic.create(user, None, None, None), None
        elif name == "rotate":
            operation = world.logic.rotate(target)
        elif name == "revoke":
            operation = world.logic.revoke(target)
        else:
            operation, target = world.logic.revoke_all(user, None), None
        running.append(Running(name, user, target, operation, world.connection()))
    picks = iter(schedule)
    clock = 0
    while not all(r.done for r in running):
        live = [r for r in running if not r.done]
        current = live[next(picks, 0) % len(live)]
        try:
            step = current.operation.send(current.reply)
        except StopIteration as finished:
            current.done, current.result = True, finished.value
            continue
        current.reply = world.perform(current.client, step)
        current.committed = clock = clock + 1
        check_every_session_is_indexed(world)
        if current.name == "revoke_all" and isinstance(step, Atomic) and current.reply is not None:
            # its EXEC is atomic: right after it, the user has no session left
            assert not any(world.record(k).user_id == current.user for k in world.session_keys())

    def wiped_after(user: str, moment: int) -> bool:
        return any(r.name == "revoke_all" and r.user == user and r.committed > moment for r in running)

    for r in running:  # who must be alive at the end, and who must be dead
        if r.name in ("create", "rotate") and isinstance(r.result, Session):
            alive = world.run(world.logic.get(r.result.token)) is not None
            assert alive == (not wiped_after(r.user, r.committed)), (r.name, r.committed)
    for user, tokens in initial.items():
        for token in tokens:
            ended = any(r.target == token and r.result for r in running) or wiped_after(user, 0)
            assert (world.run(world.logic.get(token)) is None) == ended
