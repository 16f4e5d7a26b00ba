"""Generic key commands: existence, deletion, renaming, scanning, and the EXPIRE/TTL family.

Expiry writes propagate as PEXPIREAT with an absolute deadline; a deadline already in the past
deletes the key and propagates a DEL, as Redis does.
"""

from __future__ import annotations

from typing import Final

from kvserver.commands.args import INT64_MAX, keyword_options, parse_int
from kvserver.commands.registry import (
    DENYOOM,
    FAST,
    NOT_INTEGER,
    READONLY,
    SYNTAX,
    WRITE,
    CommandError,
    Context,
    command,
    container,
)
from kvserver.glob import compile_glob
from kvserver.keyspace import VALUE_TYPES, copy_value, type_name
from kvserver.protocol import OK
from kvserver.state import ClientState

KEYSPACE: Final = "generic"


@command(
    "del",
    -2,
    (WRITE,),
    keys=(1, -1, 1),
    group=KEYSPACE,
    complexity="O(N) where N is the number of keys that will be removed.",
    summary="Delete a key",
)
def del_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    delete = ctx.keyspace.delete
    removed = [key for key in argv[1:] if delete(key)]
    if removed:
        ctx.propagate([b"DEL", *removed], removed)  # not the keys that did not exist
    return len(removed)


@command(
    "unlink",
    -2,
    (WRITE, FAST),
    keys=(1, -1, 1),
    group=KEYSPACE,
    since="4.0.0",
    complexity="O(1) for each key removed regardless of its size.",
    summary="Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
)
def unlink_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return del_command(ctx, client, argv)


@command(
    "exists",
    -2,
    (READONLY, FAST),
    keys=(1, -1, 1),
    group=KEYSPACE,
    complexity="O(N) where N is the number of keys to check.",
    summary="Determine if a key exists",
)
def exists_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    peek = ctx.keyspace.peek  # not an access (OBJECT IDLETIME), as in Redis
    return sum(1 for key in argv[1:] if peek(key) is not None)


@command(
    "touch",
    -2,
    (READONLY, FAST),
    keys=(1, -1, 1),
    group=KEYSPACE,
    since="3.2.1",
    complexity="O(N) where N is the number of keys that will be touched.",
    summary="Alters the last access time of a key(s). Returns the number of existing keys specified.",
)
def touch_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    get = ctx.keyspace.get  # an access: that is what TOUCH is for
    return sum(1 for key in argv[1:] if get(key) is not None)


@command("type", 2, (READONLY, FAST), group=KEYSPACE, summary="Determine the type stored at key")
def type_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    from kvserver.protocol import SimpleString

    value = ctx.keyspace.peek(argv[1])
    return SimpleString(b"none" if value is None else type_name(value).encode())


@command(
    "keys",
    2,
    (READONLY,),
    keys=(0, 0, 0),
    group=KEYSPACE,
    complexity="O(N) with N being the number of keys in the database",
    summary="Find all keys matching the given pattern",
)
def keys_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    pattern = argv[1]
    if pattern == b"*":
        return list(ctx.keyspace.live_keys())
    match = compile_glob(pattern)
    return [key for key in ctx.keyspace.live_keys() if match(key)]


def parse_cursor(raw: bytes) -> int:
    """A cursor as Redis's strtoul reads it: an optional sign, digits (leading zeros allowed),
    nothing else, at most 2**64 - 1; a negative one wraps around, as in C. The length is
    checked before ``int``, whose cost grows with the square of the digits."""
    body = raw[1:] if raw[:1] in (b"+", b"-") else raw
    if not body.isdigit():
        if raw:
            raise CommandError("ERR invalid cursor")
        return 0
    digits = body.lstrip(b"0")
    if len(digits) > 20 or int(digits or b"0") >= 2**64:
        raise CommandError("ERR invalid cursor")
    value = int(digits or b"0")
    return (-value) % 2**64 if raw[:1] == b"-" else value


_SCAN_OPTIONS: Final = (b"COUNT", b"MATCH", b"TYPE")
_CONTAINER_SCAN_OPTIONS: Final = (b"COUNT", b"MATCH")


def parse_scan_options(argv: list[bytes], start: int, allow_type: bool) -> tuple[int, bytes | None, bytes | None]:
    """COUNT, MATCH and (for SCAN) TYPE, in any order."""
    count = 10
    pattern: bytes | None = None
    kind: bytes | None = None
    for name, value in keyword_options(argv, start, _SCAN_OPTIONS if allow_type else _CONTAINER_SCAN_OPTIONS):
        if name == b"COUNT":
            count = parse_int(value, low=1, out_of_range=SYNTAX)
        elif name == b"MATCH":
            pattern = value
        else:
            kind = value.lower()
    return count, pattern, kind


@command(
    "scan",
    -2,
    (READONLY,),
    keys=(0, 0, 0),
    group=KEYSPACE,
    since="2.8.0",
    complexity="O(1) for every call. O(N) for a complete iteration.",
    summary="Incrementally iterate the keys space",
)
def scan_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]"""
    cursor = parse_cursor(argv[1])
    count, pattern, kind = parse_scan_options(argv, 2, allow_type=True)
    ks = ctx.keyspace
    next_cursor, batch = ks.scan(cursor, count)
    match = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
    keys: list[object] = []
    for key in batch:
        value = ks.get(key)  # also removes an expired key, as Redis's SCAN does
        if value is None or (match is not None and not match(key)):
            continue
        if kind is not None and type_name(value).encode() != kind:
            continue
        keys.append(key)
    return [b"%d" % next_cursor, keys]


@command("randomkey", 1, (READONLY,), keys=(0, 0, 0), group=KEYSPACE, summary="Return a random key from the keyspace")
def randomkey_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.keyspace.random_key()


def _rename(ctx: Context, argv: list[bytes], nx: bool) -> object:
    source, target = argv[1], argv[2]
    ks = ctx.keyspace
    value = ks.get(source)
    if value is None:
        raise CommandError("ERR no such key")
    if source == target:
        return 0 if nx else OK
    if nx and ks.get(target) is not None:
        return 0
    deadline = ks.deadline(source)
    ks.delete(source)
    ks.set(target, value, deadline)
    ctx.propagate([b"RENAME", source, target])
    return 1 if nx else OK


@command("rename", 3, (WRITE,), keys=(1, 2, 1), group=KEYSPACE, summary="Rename a key")
def rename_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _rename(ctx, argv, nx=False)


@command(
    "renamenx",
    3,
    (WRITE, FAST),
    keys=(1, 2, 1),
    group=KEYSPACE,
    summary="Rename a key, only if the new key does not exist",
)
def renamenx_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _rename(ctx, argv, nx=True)


@command(
    "copy",
    -3,
    (WRITE, DENYOOM),
    keys=(1, 2, 1),
    group=KEYSPACE,
    since="6.2.0",
    complexity="O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
    summary="Copy a key",
)
def copy_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """COPY source destination [DB destination-db] [REPLACE]"""
    source, target = argv[1], argv[2]
    replace = False
    index = client.db
    j = 3
    while j < len(argv):
        opt = argv[j].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and j + 1 < len(argv):
            index = _db_index(ctx, argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    if source == target and index == client.db:
        raise CommandError("ERR source and destination objects are the same")
    ks = ctx.keyspace
    value = ks.get(source)
    if value is None:
        return 0
    if index == client.db:
        if ks.get(target) is not None:
            if not replace:
                return 0
            ks.delete(target)
        ks.set(target, copy_value(value), ks.deadline(source))
        ctx.propagate([b"COPY", source, target, b"REPLACE"], touched=[target])
        return 1
    other = ctx.keyspace_of(index)  # another database: its listeners hear of the target
    if other.get(target) is not None:
        if not replace:
            return 0
        other.writing(target)
        other.delete(target)
    other.set(target, copy_value(value), ks.deadline(source))
    ctx.propagate([b"COPY", source, target, b"DB", b"%d" % index, b"REPLACE"], touched=[])
    other.changed("copy", target)
    return 1


@command(
    "dbsize",
    1,
    (READONLY, FAST),
    keys=(0, 0, 0),
    group="server",
    summary="Return the number of keys in the selected database",
)
def dbsize_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(ctx.keyspace)


def _flush(ctx: Context, argv: list[bytes], every_db: bool) -> object:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)
    ctx.flush_all(every_db)
    return OK


@command(
    "flushdb",
    -1,
    (WRITE,),
    keys=(0, 0, 0),
    group="server",
    complexity="O(N) where N is the number of keys in the selected database",
    summary="Remove all keys from the current database",
)
def flushdb_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _flush(ctx, argv, every_db=False)


@command(
    "flushall",
    -1,
    (WRITE,),
    keys=(0, 0, 0),
    group="server",
    complexity="O(N) where N is the total number of keys in all databases",
    summary="Remove all keys from all databases",
)
def flushall_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _flush(ctx, argv, every_db=True)


# --- expiry ------------------------------------------------------------------------------------

_NX, _XX, _GT, _LT = 1, 2, 4, 8
_EXPIRE_FLAGS: Final = {b"NX": _NX, b"XX": _XX, b"GT": _GT, b"LT": _LT}


def _expire_generic(ctx: Context, argv: list[bytes], unit_ms: int, relative: bool) -> object:
    """EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT]"""
    flags = 0
    for raw in argv[3:]:
        flag = _EXPIRE_FLAGS.get(raw.upper())
        if flag is None:
            raise CommandError(f"ERR Unsupported option {raw.decode('utf-8', 'surrogateescape')}")
        flags |= flag
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & _GT and flags & _LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    when = parse_int(argv[2])
    if unit_ms == 1000:
        if when > INT64_MAX // 1000 or when < -(INT64_MAX // 1000):
            raise _invalid_expire_time(argv[0])
        when *= 1000
    ks = ctx.keyspace
    if relative:
        now = ks.clock()
        if when > INT64_MAX - now:
            raise _invalid_expire_time(argv[0])
        when += now
    key = argv[1]
    if ks.get(key) is None:
        return 0
    current = ks.deadline(key)
    if flags:
        if flags & _NX and current is not None:
            return 0
        if flags & _XX and current is None:
            return 0
        if flags & _GT and (current is None or when <= current):
            return 0
        if flags & _LT and current is not None and when >= current:
            return 0
    if when <= ks.clock():
        ks.delete(key)
        ctx.propagate([b"DEL", key])
    else:
        ks.set_deadline(key, when)
        # PEXPIREAT's own argument is already the canonical form (parse_int takes no other)
        ctx.propagate([b"PEXPIREAT", key, argv[2] if unit_ms == 1 and not relative else b"%d" % when])
    return 1


def _invalid_expire_time(name: bytes) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{name.decode('utf-8', 'replace').lower()}' command")


@command("expire", -3, (WRITE, FAST), group=KEYSPACE, summary="Set a key's time to live in seconds")
def expire_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _expire_generic(ctx, argv, 1000, relative=True)


@command(
    "pexpire", -3, (WRITE, FAST), group=KEYSPACE, since="2.6.0", summary="Set a key's time to live in milliseconds"
)
def pexpire_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _expire_generic(ctx, argv, 1, relative=True)


@command(
    "expireat",
    -3,
    (WRITE, FAST),
    group=KEYSPACE,
    since="1.2.0",
    summary="Set the expiration for a key as a UNIX timestamp",
)
def expireat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _expire_generic(ctx, argv, 1000, relative=False)


@command(
    "pexpireat",
    -3,
    (WRITE, FAST),
    group=KEYSPACE,
    since="2.6.0",
    summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds",
)
def pexpireat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _expire_generic(ctx, argv, 1, relative=False)


def _ttl_generic(ctx: Context, key: bytes, in_ms: bool, absolute: bool) -> int:
    ks = ctx.keyspace
    if ks.peek(key) is None:
        return -2
    deadline = ks.deadline(key)
    if deadline is None:
        return -1
    if absolute:
        return deadline if in_ms else deadline // 1000
    remaining = max(deadline - ks.clock(), 0)
    return remaining if in_ms else (remaining + 500) // 1000


@command("ttl", 2, (READONLY, FAST), group=KEYSPACE, summary="Get the time to live for a key in seconds")
def ttl_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _ttl_generic(ctx, argv[1], in_ms=False, absolute=False)


@command(
    "pttl", 2, (READONLY, FAST), group=KEYSPACE, since="2.6.0", summary="Get the time to live for a key in milliseconds"
)
def pttl_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _ttl_generic(ctx, argv[1], in_ms=True, absolute=False)


@command(
    "expiretime",
    2,
    (READONLY, FAST),
    group=KEYSPACE,
    since="7.0.0",
    summary="Get the expiration Unix timestamp for a key",
)
def expiretime_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _ttl_generic(ctx, argv[1], in_ms=False, absolute=True)


@command(
    "pexpiretime",
    2,
    (READONLY, FAST),
    group=KEYSPACE,
    since="7.0.0",
    summary="Get the expiration Unix timestamp for a key in milliseconds",
)
def pexpiretime_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _ttl_generic(ctx, argv[1], in_ms=True, absolute=True)


@command("persist", 2, (WRITE, FAST), group=KEYSPACE, since="2.2.0", summary="Remove the expiration from a key")
def persist_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ks = ctx.keyspace
    key = argv[1]
    if ks.get(key) is None or ks.deadline(key) is None:
        return 0
    ks.set_deadline(key, None)
    ctx.propagate([b"PERSIST", key])
    return 1


# --- OBJECT ------------------------------------------------------------------------------------

_OBJECT_HELP: Final = [
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
]

container(
    "object",
    -2,
    group=KEYSPACE,
    since="2.2.3",
    summary="A container for object introspection commands",
    help=_OBJECT_HELP,
    help_since="6.2.0",
)


@command(
    "encoding",
    3,
    (READONLY,),
    keys=(2, 2, 1),
    group=KEYSPACE,
    since="2.2.3",
    parent="object",
    summary="Inspect the internal encoding of a Redis object",
)
def object_encoding_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    value = ctx.keyspace.peek(argv[2])
    if value is None:
        return None
    return VALUE_TYPES[type(value)].encoding(value)


@command(
    "refcount",
    3,
    (READONLY,),
    keys=(2, 2, 1),
    group=KEYSPACE,
    since="2.2.3",
    parent="object",
    summary="Get the number of references to the value of the key",
)
def object_refcount_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return None if ctx.keyspace.peek(argv[2]) is None else 1


@command(
    "idletime",
    3,
    (READONLY,),
    keys=(2, 2, 1),
    group=KEYSPACE,
    since="2.2.3",
    parent="object",
    summary="Get the time since a Redis object was last accessed",
)
def object_idletime_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ks = ctx.keyspace
    if ks.peek(argv[2]) is None:
        return None
    if ks.lfu:
        raise CommandError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
            "between policies at runtime LRU and LFU data will take some time to adjust."
        )
    return ks.idle_time(argv[2])


@command(
    "freq",
    3,
    (READONLY,),
    keys=(2, 2, 1),
    group=KEYSPACE,
    since="4.0.0",
    parent="object",
    summary="Get the logarithmic access frequency counter of a Redis object",
)
def object_freq_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ks = ctx.keyspace
    if ks.peek(argv[2]) is None:
        return None
    if not ks.lfu:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
            "Please note that when switching between policies at runtime LRU and LFU data "
            "will take some time to adjust."
        )
    return ks.frequency(argv[2])


__all__ = ["NOT_INTEGER", "parse_cursor", "parse_scan_options"]


def _db_index(ctx: Context, raw: bytes) -> int:
    """A database index argument (MOVE, COPY ... DB): Redis's errors for each way it is wrong."""
    index = parse_int(raw)
    if not -(2**31) <= index < 2**31:  # Redis's getIntFromObject
        raise CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if not 0 <= index < ctx.config.databases:
        raise CommandError("ERR DB index is out of range")
    return index


@command(
    "move",
    3,
    (WRITE, FAST),
    keys=(1, 1, 1),
    group="generic",
    summary="Move a key to another database",
)
def move_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    key = argv[1]
    index = _db_index(ctx, argv[2])
    if index == client.db:
        raise CommandError("ERR source and destination objects are the same")
    ks = ctx.keyspace
    value = ks.get(key)
    if value is None:
        return 0
    target = ctx.keyspace_of(index)
    if target.get(key) is not None:
        return 0
    deadline = ks.deadline(key)
    ks.delete(key)
    target.writing(key)
    target.set(key, value, deadline)
    ctx.propagate([b"MOVE", key, b"%d" % index], touched=[])
    ks.changed("move_from", key)
    target.changed("move_to", key)
    return 1


@command(
    "swapdb",
    3,
    (WRITE, FAST),
    keys=(0, 0, 0),
    group="server",
    since="4.0.0",
    summary="Swaps two Redis databases",
)
def swapdb_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    first = parse_int(argv[1], "ERR invalid first DB index")
    second = parse_int(argv[2], "ERR invalid second DB index")
    databases = ctx.config.databases
    if not (0 <= first < databases and 0 <= second < databases):
        raise CommandError("ERR DB index is out of range")
    if first != second:
        ctx.swap_dbs(first, second)
    ctx.propagate([b"SWAPDB", b"%d" % first, b"%d" % second], touched=[])
    # (the waiters it made ready are served after the command, so after the record)
    return OK
