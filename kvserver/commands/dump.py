"""DUMP and RESTORE: a key's value as Redis 7.0's RDB payload (``kvserver.rdb``), and back.

The payload is what Redis 7.0.15 produces and loads, so a key moves between kvserver and Redis
both ways (and a migration needs no downtime). DUMP encodes with the configured thresholds
(``hash-max-listpack-*``, ``zset-max-listpack-*``, ``set-max-intset-entries``,
``list-max-listpack-size``).

RESTORE is logged canonically, as the rewrite would write the key: ``DEL key`` (when REPLACE
removed a value) and the restored value's commands (``keyspace.dump_key``: RPUSH / SADD / HSET /
ZADD chunks, ``SET``, then ``PEXPIREAT`` for a TTL), in one unit. Replay then needs no RDB
decoder and depends on no payload version. A TTL already in the past creates nothing (a
REPLACE that removed a key is logged as its ``DEL``). IDLETIME and FREQ are checked as Redis
checks them and otherwise ignored: kvserver keeps no access clock per key.
"""

from __future__ import annotations

from typing import Final

from kvserver import rdb
from kvserver.commands.args import INT64_MAX, parse_int
from kvserver.commands.containers import IndexedHash, IndexedSet
from kvserver.commands.hashes import LISTPACK_ENTRIES
from kvserver.commands.registry import (
    DENYOOM,
    READONLY,
    SYNTAX,
    WRITE,
    CommandError,
    Context,
    command,
)
from kvserver.commands.sets import INTSET_ENTRIES
from kvserver.keyspace import dump_key, type_name
from kvserver.protocol import OK
from kvserver.state import ClientState

GENERIC: Final = "generic"
BUSYKEY: Final = "BUSYKEY Target key name already exists."
BAD_FOOTER: Final = "ERR DUMP payload version or checksum are wrong"
BAD_DATA: Final = "ERR Bad data format"


def limits(ctx: Context) -> rdb.Limits:
    config = ctx.config
    return rdb.Limits(
        hash_entries=config.hash_max_listpack_entries,
        hash_value=config.hash_max_listpack_value,
        list_fill=config.list_max_listpack_size,
        set_intset_entries=config.set_max_intset_entries,
        zset_entries=config.zset_max_listpack_entries,
        zset_value=config.zset_max_listpack_value,
    )


def _as_kvserver_value(value: object) -> object:
    """Big sets and hashes are the indexed kinds the commands expect past the compact sizes."""
    if type(value) is set and len(value) > INTSET_ENTRIES:
        return IndexedSet(value)
    if type(value) is dict and len(value) > LISTPACK_ENTRIES:
        return IndexedHash(value)
    return value


@command(
    "dump",
    2,
    (READONLY,),
    group=GENERIC,
    since="2.6.0",
    complexity="O(1) to access the key and additional O(N*M) to serialize it, where N is the number of "
    "Redis objects composing the value and M their average size. For small string values the time "
    "complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
    summary="Return a serialized version of the value stored at the specified key.",
)
def dump_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = ctx.keyspace.get(argv[1])
    if value is None:
        return None
    if not rdb.can_encode(value):  # a type that registered no RDB encoding (kvserver.rdb.register)
        raise CommandError(f"ERR DUMP of a {type_name(value)} value is not supported")
    return rdb.encode(value, limits(ctx))


@command(
    "restore",
    -4,
    (WRITE, DENYOOM),
    group=GENERIC,
    since="2.6.0",
    complexity="O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, "
    "where N is the number of Redis objects composing the value and M their average size. For small "
    "string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However "
    "for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets "
    "is O(log(N)).",
    summary="Create a key using the provided serialized value, previously obtained using DUMP.",
)
def restore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]"""
    replace = absttl = False
    idle = freq = -1
    j = 4
    argc = len(argv)
    while j < argc:  # cluster.c's restoreCommand, in its order
        word = argv[j].upper()
        more = argc - j - 1
        if word == b"REPLACE":
            replace = True
        elif word == b"ABSTTL":
            absttl = True
        elif word == b"IDLETIME" and more >= 1 and freq == -1:
            idle = parse_int(argv[j + 1])
            if idle < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif word == b"FREQ" and more >= 1 and idle == -1:
            freq = parse_int(argv[j + 1])
            if not 0 <= freq <= 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    key = argv[1]
    keyspace = ctx.keyspace
    if not replace and keyspace.get(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    try:
        value = _as_kvserver_value(rdb.decode(argv[3]))
    except rdb.BadFooter:
        raise CommandError(BAD_FOOTER) from None
    except rdb.BadPayload:
        raise CommandError(BAD_DATA) from None
    if ttl and not absttl:
        ttl += keyspace.clock()
        if ttl > INT64_MAX:  # Redis's long long wraps around: a deadline in the past
            ttl -= 2**64
    deleted = replace and keyspace.delete(key)
    if ttl and ttl <= keyspace.clock():  # already expired: nothing is created
        if deleted:
            ctx.propagate([b"DEL", key], [key])
        return OK
    keyspace.set(key, value, ttl or None)
    log_recreated(ctx, key, value, deleted, "restore")
    return OK


def log_recreated(ctx: Context, key: bytes, value: object, replaced: bool, event: str) -> None:
    """Log a key a command (re)created whole, in one unit: ``DEL key`` if it ``replaced`` a
    value, then the commands the rewrite would write for it; announce it as ``event``."""
    own_unit = not ctx.in_transaction
    if own_unit:
        ctx.begin_unit()
    try:
        if replaced:
            ctx.propagate([b"DEL", key], [])
        for record in dump_key(ctx.keyspace, key, value):
            ctx.propagate(record, [])
    finally:
        if own_unit:
            ctx.end_unit()
    ctx.keyspace.changed(event, key)
