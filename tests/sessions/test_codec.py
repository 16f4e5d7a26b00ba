"""Property tests of the token format and the session record codec (no server)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvsession.model import FIELDS, Record, decode_record, pack
from kvsession.tokens import KeyLayout, Token, new_token, parse_token, user_tag

users = st.text(min_size=1, max_size=40)
json_like: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.slow
@given(users)
def test_tokens_round_trip_and_carry_the_users_tag(user: str) -> None:
    token = new_token(user)
    assert parse_token(str(token)) == token
    assert token.tag == user_tag(user) == hashlib.sha256(user.encode()).hexdigest()[:4]
    assert len(str(token)) == 70
    assert token.secret not in repr(token)
    layout = KeyLayout("app:")
    assert layout.session(token.id).startswith(f"app:{{{token.tag}}}:s:".encode())
    assert layout.index(user).startswith(f"app:{{{token.tag}}}:u:".encode())  # one cluster slot per user


def test_tokens_are_unique_and_random() -> None:
    tokens = {str(new_token("u")) for _ in range(10_000)}
    assert len(tokens) == 10_000
    assert len({t[4:26] for t in tokens}) == 10_000  # 128 random bits of id
    assert len({t.split(".")[1] for t in tokens}) == 10_000  # 256 random bits of secret


@given(st.one_of(st.text(max_size=100), st.binary(max_size=100), st.integers(), st.none()))
def test_parse_never_raises(raw: object) -> None:
    token = parse_token(raw)
    assert token is None or isinstance(token, Token)


@given(users, st.integers(min_value=0, max_value=69), st.characters(codec="ascii"))
def test_a_tampered_token_does_not_match(user: str, position: int, char: str) -> None:
    token = new_token(user)
    text = str(token)
    tampered = text[:position] + char + text[position + 1 :]
    parsed = parse_token(tampered)
    if tampered == text:
        assert parsed == token
    elif parsed is not None and parsed.id == token.id:
        assert not parsed.matches(hashlib.sha256(token.secret.encode()).digest())


records = st.builds(
    Record,
    user_id=users,
    secret_hash=st.binary(min_size=32, max_size=32),
    data=st.dictionaries(st.text(max_size=10), json_like, max_size=5),
    metadata=st.dictionaries(st.text(max_size=10), json_like, max_size=3),
    created=st.integers(0, 2**50),
    seen=st.integers(0, 2**50),
    idle=st.integers(1, 2**40),
    until=st.integers(0, 2**50),
)


@given(records)
@pytest.mark.slow
def test_records_round_trip_through_hset_and_hmget(record: Record) -> None:
    fields = record.fields()
    stored = dict(zip(fields[::2], fields[1::2], strict=True))
    assert decode_record([stored[name] for name in FIELDS]) == record


@given(st.lists(st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=10)), max_size=10))
def test_decoding_garbage_never_raises(values: list[object]) -> None:
    record = decode_record(values)
    assert record is None or isinstance(record, Record)


@pytest.mark.parametrize("bad", [{"when": object()}, {"f": lambda: 1}, {"s": {1, 2}}, ["not", "a", "mapping"]])
def test_data_that_msgpack_cannot_hold_is_a_clear_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="session data must be"):
        pack(bad, "data")
