"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST (kvserver/hyperloglog.py
holds the representation, byte-identical to Redis 7.0.15's).

A HyperLogLog is a string value: PFADD edits it in place (a bytearray, as APPEND leaves it), so
adding to a dense one costs one or two bytes, not a copy of its 12 KB. PFCOUNT of one key stores
the cardinality it computed in the header, as Redis does; it replaces the value rather than
editing it (a read-only command must not change a value a rewrite may be reading) and logs
itself, so the value after replay is the same bytes.

Records: PFADD and PFMERGE log themselves (deterministic: the registers are a function of the
elements); PFDEBUG GETREG / TODENSE log a TODENSE when they converted the value.
"""

from __future__ import annotations

import random
from typing import Final

from kvserver import hyperloglog as hll
from kvserver.commands.registry import ADMIN, DENYOOM, FAST, READONLY, WRITE, CommandError, Context, command
from kvserver.commands.strings import mutable_string, string_value
from kvserver.protocol import OK, SimpleString
from kvserver.state import ClientState

HYPERLOGLOG: Final = "hyperloglog"
NOT_HLL: Final = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPT: Final = "INVALIDOBJ Corrupted HLL object detected"


def _hll_value(ctx: Context, key: bytes) -> bytes | bytearray | None:
    """The HyperLogLog at ``key``, None if missing; the two WRONGTYPE errors otherwise."""
    value = string_value(ctx, key)
    if value is not None and not hll.is_hll(value):
        raise CommandError(NOT_HLL)
    return value


def _merged(ctx: Context, keys: list[bytes]) -> tuple[bytes, bool]:
    """The register-wise maximum of the HyperLogLogs at ``keys`` (missing ones are empty), and
    whether one of them is dense; checked and merged key by key, as Redis reports errors."""
    total = 0
    dense = False
    for key in keys:
        value = _hll_value(ctx, key)
        if value is None:
            continue
        dense = dense or value[4] == hll.DENSE
        try:
            total = hll.maximum(total, int.from_bytes(hll.registers(value), "big"))
        except hll.CorruptHLL:
            raise CommandError(CORRUPT) from None
    return total.to_bytes(hll.REGISTERS, "big"), dense


@command(
    "pfadd",
    -2,
    (WRITE, DENYOOM, FAST),
    group=HYPERLOGLOG,
    since="2.8.9",
    complexity="O(1) to add every element.",
    summary="Adds the specified elements to the specified HyperLogLog.",
)
def pfadd_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """PFADD key [element ...]"""
    key = argv[1]
    current = _hll_value(ctx, key)
    updated = 0
    if current is None:
        value = hll.new_hll()
        ctx.keyspace.set(key, value)
        updated = 1
    else:
        value = mutable_string(ctx, key, current)
    changed, failed_at = hll.add_many(value, argv[2:], ctx.config.hll_sparse_max_bytes)
    updated += changed
    if failed_at >= 0:
        if updated:  # what the elements before changed stays, as in Redis: log those
            ctx.propagate(argv[: 2 + failed_at])
        raise CommandError(CORRUPT)
    if updated:
        hll.invalidate(value)
        ctx.propagate(argv)
        return 1
    return 0


@command(
    "pfcount",
    -2,
    (READONLY,),
    keys=(1, -1, 1),
    group=HYPERLOGLOG,
    since="2.8.9",
    complexity="O(1) with a very small average constant time when called with a single key. O(N) with N"
    " being the number of keys, and much bigger constant times, when called with multiple keys.",
    summary="Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
)
def pfcount_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """PFCOUNT key [key ...]"""
    if len(argv) > 2:
        return hll.count_registers(_merged(ctx, argv[1:])[0])
    key = argv[1]
    value = _hll_value(ctx, key)
    if value is None:
        return 0
    cached = hll.cached_count(value)
    if cached is not None:
        return cached
    try:
        card = hll.count(value)
    except hll.CorruptHLL:
        raise CommandError(CORRUPT) from None
    updated = bytearray(value)
    hll.store_count(updated, card)
    ctx.keyspace.set_keep_ttl(key, updated)
    ctx.propagate(argv, [key])  # (a read-only command: the dispatcher names no keys for it)
    return card


@command(
    "pfmerge",
    -2,
    (WRITE, DENYOOM),
    keys=(1, -1, 1),
    group=HYPERLOGLOG,
    since="2.8.9",
    complexity="O(N) to merge N HyperLogLogs, but with high constant times.",
    summary="Merge N different HyperLogLogs into a single one.",
)
def pfmerge_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """PFMERGE destkey [sourcekey ...] (the destination is one of the sources)"""
    registers, use_dense = _merged(ctx, argv[1:])
    key = argv[1]
    current = string_value(ctx, key)
    if current is None:
        dest = hll.new_hll()
        ctx.keyspace.set(key, dest)
    else:
        dest = mutable_string(ctx, key, current)
    try:
        hll.merge_into(dest, registers, use_dense, ctx.config.hll_sparse_max_bytes)
    except hll.CorruptHLL:
        raise CommandError(CORRUPT) from None
    ctx.propagate(argv, [key])  # the sources are read, not changed
    return OK


@command(
    "pfdebug",
    3,
    (WRITE, DENYOOM, ADMIN),
    keys=(2, 2, 1),
    group=HYPERLOGLOG,
    since="2.8.9",
    complexity="N/A",
    summary="Internal commands for debugging HyperLogLog values",
)
def pfdebug_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """PFDEBUG GETREG|DECODE|ENCODING|TODENSE key"""
    sub = argv[1].lower()
    key = argv[2]
    current = _hll_value(ctx, key)
    if current is None:
        raise CommandError("ERR The specified key does not exist")
    if sub in (b"getreg", b"todense"):
        converted = current[4] == hll.SPARSE
        if converted:
            value = mutable_string(ctx, key, current)
            try:
                hll.to_dense(value)
            except hll.CorruptHLL:
                raise CommandError(CORRUPT) from None
            ctx.propagate([b"PFDEBUG", b"TODENSE", key])
            current = value
        if sub == b"todense":
            return 1 if converted else 0
        return list(hll.registers(current))
    if sub == b"decode":
        if current[4] != hll.SPARSE:
            raise CommandError("ERR HLL encoding is not sparse")
        return hll.decode(current)
    if sub == b"encoding":
        return SimpleString(b"sparse" if current[4] == hll.SPARSE else b"dense")
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{argv[1].decode('utf-8', 'replace')}'")


_SELFTEST_CARDINALITY: Final = 100_000  # Redis goes to 10 million; in Python that takes minutes


@command(
    "pfselftest",
    1,
    (ADMIN,),
    keys=(0, 0, 0),
    group=HYPERLOGLOG,
    since="2.8.9",
    complexity="N/A",
    summary="An internal command for testing HyperLogLog values",
)
def pfselftest_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """PFSELFTEST: Redis's two checks (register round trips; sparse and dense agree and stay
    within six standard errors at 1, 10, 100 ... elements), up to 100 000 elements."""
    rng = random.Random()
    for _ in range(10):
        regs = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        dense = bytearray(hll.HEADER) + hll.pack(regs)
        if hll.registers(dense) != regs:
            raise CommandError("TESTFAILED Register access")
    dense = bytearray(hll.MAGIC + bytes(hll.HEADER - 4)) + bytes(hll.DENSE_BYTES)
    sparse = hll.new_hll()
    max_bytes = ctx.config.hll_sparse_max_bytes
    seed = rng.getrandbits(64)
    relative_error = 1.04 / hll.REGISTERS**0.5
    checkpoint = 1
    for j in range(1, _SELFTEST_CARDINALITY + 1):
        element = (j ^ seed).to_bytes(8, "little")
        hll.add(dense, element, max_bytes)
        hll.add(sparse, element, max_bytes)
        if j == checkpoint:
            if j < max_bytes // 2 and sparse[4] != hll.SPARSE:
                raise CommandError("TESTFAILED sparse encoding not used")
            estimate = hll.count(dense)
            if estimate != hll.count(sparse):
                raise CommandError("TESTFAILED dense/sparse disagree")
            allowed = 1 if j == 10 else -(-relative_error * 6 * j // 1)
            if abs(j - estimate) > allowed:
                raise CommandError(f"TESTFAILED Too big error. card:{j} abserr:{abs(j - estimate)}")
            checkpoint *= 10
    return OK


__all__ = ["CORRUPT", "NOT_HLL"]
