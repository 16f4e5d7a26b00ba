"""Hash commands. A hash is a plain ``dict[bytes, bytes]``, or past ``LISTPACK_ENTRIES``
fields an ``IndexedHash`` (a dict whose fields can also be reached by position: O(1)
HRANDFIELD, HSCAN cursors without server state). Sessions are small hashes: plain dicts.

Writes are logged as the client sent them, except the increments: HINCRBY and HINCRBYFLOAT log
an HSET of the result, so replay never redoes arithmetic. HSETNX logs HSET when it sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from itertools import chain, islice
from typing import Final

from kvserver.commands.args import INT64_MAX, INT64_MIN, parse_int
from kvserver.commands.containers import SCAN_COMPLEXITY, IndexedHash, drop_if_empty, random_members, scan_container
from kvserver.commands.registry import (
    DENYOOM,
    FAST,
    OVERFLOW,
    READONLY,
    WRITE,
    WRONGTYPE,
    CommandError,
    Context,
    arity_error,
    command,
)
from kvserver.commands.strings import add_long_double, parse_long_double
from kvserver.keyspace import ValueType, register_type
from kvserver.protocol import OK
from kvserver.state import ClientState

HASH: Final = "hash"
# Redis 7.0's defaults for the compact encoding (hash-max-listpack-entries / -value)
LISTPACK_ENTRIES: Final = 128
LISTPACK_VALUE: Final = 64
DUMP_CHUNK: Final = 512  # fields per HSET record in a rewrite


def is_compact(value: dict[bytes, bytes]) -> bool:
    return len(value) <= LISTPACK_ENTRIES and all(
        len(f) <= LISTPACK_VALUE and len(v) <= LISTPACK_VALUE for f, v in value.items()
    )


def _dump(key: bytes, value: dict[bytes, bytes]) -> Iterator[list[bytes]]:
    items = iter(value.items())  # lazily: the rewrite dumps a big hash in slices (from a copy)
    while chunk := list(islice(items, DUMP_CHUNK)):
        yield [b"HSET", key, *chain.from_iterable(chunk)]


def _encoding(value: dict[bytes, bytes]) -> bytes:
    return b"listpack" if is_compact(value) else b"hashtable"


register_type(dict, ValueType(HASH, copy=dict.copy, dump=_dump, encoding=_encoding))
register_type(IndexedHash, ValueType(HASH, copy=IndexedHash.copy, dump=_dump, encoding=_encoding))


def get_hash(ctx: Context, key: bytes) -> dict[bytes, bytes] | None:
    """The hash at ``key`` (plain or indexed), None if missing; WRONGTYPE for another type."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is dict or type(value) is IndexedHash:
        return value
    raise CommandError(WRONGTYPE)


def hash_for_write(ctx: Context, key: bytes, adding: int = 1) -> dict[bytes, bytes]:
    """The hash to write ``adding`` fields to; past LISTPACK_ENTRIES it becomes an IndexedHash."""
    value = get_hash(ctx, key)
    if value is None:
        value = {}
        ctx.keyspace.set(key, value)
    if type(value) is dict and len(value) + adding > LISTPACK_ENTRIES:
        value = IndexedHash(value)
        ctx.keyspace.set_keep_ttl(key, value)
    return value


@command(
    "hset",
    -4,
    (WRITE, DENYOOM, FAST),
    group=HASH,
    since="2.0.0",
    complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs when the "
    "command is called with multiple field/value pairs.",
    summary="Set the string value of a hash field",
)
def hset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """HSET key field value [field value ...]"""
    if len(argv) % 2:
        raise arity_error(argv[0].decode("utf-8", "replace").lower())
    value = hash_for_write(ctx, argv[1], len(argv) // 2 - 1)
    before = len(value)
    for i in range(2, len(argv), 2):
        value[argv[i]] = argv[i + 1]
    ctx.propagate(argv)
    return len(value) - before


@command(
    "hmset",
    -4,
    (WRITE, DENYOOM, FAST),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the number of fields being set.",
    summary="Set multiple hash fields to multiple values",
)
def hmset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    hset_command(ctx, client, argv)
    return OK


@command(
    "hsetnx",
    4,
    (WRITE, DENYOOM, FAST),
    group=HASH,
    since="2.0.0",
    summary="Set the value of a hash field, only if the field does not exist",
)
def hsetnx_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key, field = argv[1], argv[2]
    value = get_hash(ctx, key)
    if value is not None and field in value:
        return 0
    hash_for_write(ctx, key)[field] = argv[3]
    ctx.propagate([b"HSET", key, field, argv[3]])
    return 1


@command("hget", 3, (READONLY, FAST), group=HASH, since="2.0.0", summary="Get the value of a hash field")
def hget_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = get_hash(ctx, argv[1])
    return None if value is None else value.get(argv[2])


@command(
    "hmget",
    -3,
    (READONLY, FAST),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the number of fields being requested.",
    summary="Get the values of all the given hash fields",
)
def hmget_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = get_hash(ctx, argv[1]) or {}
    return [value.get(field) for field in argv[2:]]


@command(
    "hgetall",
    2,
    (READONLY,),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
    summary="Get all the fields and values in a hash",
)
def hgetall_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = get_hash(ctx, argv[1])
    return {} if value is None else dict(value)  # a copy: EXEC encodes replies after later commands


@command(
    "hkeys",
    2,
    (READONLY,),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
    summary="Get all the fields in a hash",
)
def hkeys_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return list(get_hash(ctx, argv[1]) or ())


@command(
    "hvals",
    2,
    (READONLY,),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
    summary="Get all the values in a hash",
)
def hvals_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return list((get_hash(ctx, argv[1]) or {}).values())


@command(
    "hdel",
    -3,
    (WRITE, FAST),
    group=HASH,
    since="2.0.0",
    complexity="O(N) where N is the number of fields to be removed.",
    summary="Delete one or more hash fields",
)
def hdel_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    value = get_hash(ctx, key)
    if value is None:
        return 0
    removed = 0
    for field in argv[2:]:
        if value.pop(field, None) is not None:
            removed += 1
    if removed:
        drop_if_empty(ctx, key, value)
        ctx.propagate(argv)
    return removed


@command("hexists", 3, (READONLY, FAST), group=HASH, since="2.0.0", summary="Determine if a hash field exists")
def hexists_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return int(argv[2] in (get_hash(ctx, argv[1]) or ()))


@command("hlen", 2, (READONLY, FAST), group=HASH, since="2.0.0", summary="Get the number of fields in a hash")
def hlen_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(get_hash(ctx, argv[1]) or ())


@command(
    "hstrlen",
    3,
    (READONLY, FAST),
    group=HASH,
    since="3.2.0",
    summary="Get the length of the value of a hash field",
)
def hstrlen_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len((get_hash(ctx, argv[1]) or {}).get(argv[2], b""))


def _field(ctx: Context, argv: list[bytes]) -> bytes | None:
    """The value of field argv[2] of hash argv[1], if both exist."""
    value = get_hash(ctx, argv[1])
    return None if value is None else value.get(argv[2])


def _store_field(ctx: Context, argv: list[bytes], encoded: bytes) -> bytes:
    """An increment's result: set it, and log it as an HSET (replay redoes no arithmetic)."""
    key, field = argv[1], argv[2]
    hash_for_write(ctx, key)[field] = encoded
    ctx.propagate([b"HSET", key, field, encoded])
    return encoded


@command(
    "hincrby",
    4,
    (WRITE, DENYOOM, FAST),
    group=HASH,
    since="2.0.0",
    summary="Increment the integer value of a hash field by the given number",
)
def hincrby_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    delta = parse_int(argv[3])
    current = _field(ctx, argv)
    result = delta + (0 if current is None else parse_int(current, "ERR hash value is not an integer"))
    if not INT64_MIN <= result <= INT64_MAX:
        raise CommandError(OVERFLOW)
    _store_field(ctx, argv, b"%d" % result)
    return result


@command(
    "hincrbyfloat",
    4,
    (WRITE, DENYOOM, FAST),
    group=HASH,
    since="2.6.0",
    summary="Increment the float value of a hash field by the given amount",
)
def hincrbyfloat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    delta = parse_long_double(argv[3])
    if isinstance(delta, float):  # parse_long_double gives a float only for +-inf
        raise CommandError("ERR value is NaN or Infinity")
    current = _field(ctx, argv)
    number = Decimal(0) if current is None else parse_long_double(current, "ERR hash value is not a float")
    return _store_field(ctx, argv, add_long_double(number, delta))


@command(
    "hrandfield",
    -2,
    (READONLY,),
    group=HASH,
    since="6.2.0",
    complexity="O(N) where N is the number of fields returned",
    summary="Get one or multiple random fields from a hash",
)
def hrandfield_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """HRANDFIELD key [count [WITHVALUES]]"""
    return random_members(argv, b"WITHVALUES", lambda: get_hash(ctx, argv[1]), client.resp3, _population)


def _population(value: dict[bytes, bytes]) -> list[bytes]:
    """The fields as a sequence: O(1) for an IndexedHash, a copy of at most 128 otherwise."""
    return value.fields if type(value) is IndexedHash else list(value)


def _scan_items(value: dict[bytes, bytes], field: bytes) -> tuple[object, ...]:
    return (field, value[field]) if field in value else ()


@command(
    "hscan",
    -3,
    (READONLY,),
    group=HASH,
    since="2.8.0",
    complexity=SCAN_COMPLEXITY,
    summary="Incrementally iterate hash fields and associated values",
)
def hscan_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """HSCAN key cursor [MATCH pattern] [COUNT count]"""
    return scan_container(ctx, argv, get_hash, is_compact, list, _scan_items)
