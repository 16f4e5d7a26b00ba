"""Stream commands, on ``kvserver.stream.Stream``: XADD ... XINFO, consumer groups, XREAD BLOCK.

Replies, errors and argument orders follow Redis 7.0's t_stream.c. Writes are logged in a
canonical form, so replay is deterministic and gives the same ids:

- XADD with its resolved id (``*`` and ``ms-*`` become the id given), and a trim that removed
  something as ``MAXLEN = <length left>`` (an approximate trim made exact);
- XTRIM that removed something as ``XTRIM key MAXLEN = <length left>``;
- XGROUP CREATE / SETID with ``$`` resolved to the id, and ENTRIESREAD;
- XREADGROUP, XCLAIM and XAUTOCLAIM as Redis propagates them: ``XGROUP CREATECONSUMER`` for a
  consumer they create, an ``XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID
  LASTID id`` per pending entry they create or change, then ``XGROUP SETID key group id
  ENTRIESREAD n`` when the group's last delivered id moved (so ``entries_read`` replays too).

Blocking XREAD / XREADGROUP are non-consuming waiters (``Block(consume=False)``): every write
to the key wakes all of them, each takes what is new for it. A blocked XREADGROUP whose group
was destroyed gets -NOGROUP, one whose key was deleted -UNBLOCKED, as in Redis 7.0.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice
from typing import Final

from sortedcontainers import SortedDict

import kvserver.rdb_stream  # noqa: F401  (registers the stream's DUMP payload with kvserver.rdb)
from kvserver.commands.args import INT64_MAX, parse_int
from kvserver.commands.registry import (
    BLOCKING,
    DENYOOM,
    FAST,
    MOVABLEKEYS,
    NO_SUCH_KEY,
    READONLY,
    SYNTAX,
    WRITE,
    Block,
    CommandError,
    Context,
    arity_error,
    command,
    container,
    typed_value,
)
from kvserver.keyspace import ValueType, register_type
from kvserver.memory import register_size
from kvserver.protocol import OK, NullArray, encode_reply
from kvserver.state import ClientState
from kvserver.stream import (
    INVALID_ENTRIES_READ,
    MAX64,
    MAX_ID,
    Consumer,
    Fields,
    Group,
    Nack,
    Stream,
    format_id,
    parse_id,
)

STREAM: Final = "stream"
INVALID_ID: Final = "ERR Invalid stream ID specified as stream command argument"
NOT_GREATER: Final = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
XREAD_BLOCKED_DEFAULT_COUNT: Final = 1000


# --- the type ------------------------------------------------------------------------------------


def _dump(key: bytes, value: Stream) -> Iterator[list[bytes]]:
    """As Redis's aof.c rewriteStreamObject: the entries, the groups, consumers and PEL, XSETID.

    Unlike Redis's, a pending entry whose stream entry was deleted survives the rewrite: a
    placeholder entry is added for it before the XCLAIMs and deleted after them."""
    missing = sorted({i for group in value.groups.values() for i in group.pel if i not in value.entries})
    entries = value.range(0, MAX_ID)
    if value.entries or missing:
        for stream_id, fields in _merged(entries, missing):
            yield [b"XADD", key, format_id(stream_id), *fields]
    else:  # an empty stream: XADD MAXLEN 0 makes it, XSETID gives its last id
        yield [b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]
    for name, group in sorted(value.groups.items()):
        yield [
            b"XGROUP",
            b"CREATE",
            key,
            name,
            format_id(group.last_id),
            b"ENTRIESREAD",
            b"%d" % group.entries_read,
        ]
        for consumer_name in sorted(group.consumers):
            yield [b"XGROUP", b"CREATECONSUMER", key, name, consumer_name]
        for stream_id, nack in group.pel.items():
            if nack.consumer is not None:
                yield _claim_record(key, name, group, stream_id, nack)
    if missing:
        yield [b"XDEL", key, *map(format_id, missing)]
    yield [
        b"XSETID",
        key,
        format_id(value.last_id),
        b"ENTRIESADDED",
        b"%d" % value.entries_added,
        b"MAXDELETEDID",
        format_id(value.max_deleted_id),
    ]


def _merged(entries: Iterator[tuple[int, Fields]], missing: list[int]) -> Iterator[tuple[int, Fields]]:
    """The entries with placeholders for the ``missing`` ids, in id order."""
    placeholders = iter(missing)
    pending = next(placeholders, None)
    for stream_id, fields in entries:
        while pending is not None and pending < stream_id:
            yield pending, (b"x", b"y")
            pending = next(placeholders, None)
        yield stream_id, fields
    while pending is not None:
        yield pending, (b"x", b"y")
        pending = next(placeholders, None)


def _encoding(value: Stream) -> bytes:
    return b"stream"


register_type(Stream, ValueType(STREAM, copy=Stream.copy, dump=_dump, encoding=_encoding))

# per entry: its id (an int, in the dict and the SortedList) and the dict's slot; per pending
# entry: the Nack and its id in the group's and the consumer's SortedDicts
_ENTRY_OVERHEAD: Final = 2 * 36 + 8 + 50
_NODE_SIZE: Final = 72 + 36 + 8
_NACK_SIZE: Final = 64 + 2 * (36 + 8 + 50)


def _stream_size(value: Stream, samples: int | None) -> int:
    """The bytes a stream owns past its object: its entries (``samples`` of them looked at and
    extrapolated, as for the other containers), its nodes' bookkeeping, groups and PELs."""
    seen = [
        _ENTRY_OVERHEAD + sys.getsizeof(fields) + sum(map(sys.getsizeof, fields))
        for fields in islice(value.entries.values(), samples)
    ]
    size = sys.getsizeof(value.entries) + len(value.nodes) * _NODE_SIZE
    if seen:
        size += sum(seen) * len(value.entries) // len(seen)
    for name, group in value.groups.items():
        size += sys.getsizeof(name) + sys.getsizeof(group) + len(group.pel) * _NACK_SIZE
        size += sum(sys.getsizeof(c.name) + sys.getsizeof(c) + 200 for c in group.consumers.values())
    return size


register_size(Stream, _stream_size)


def _s(raw: bytes) -> str:
    """Bytes in an error text (the reply encoder writes the text back as UTF-8)."""
    return raw.decode("utf-8", "surrogateescape")


def get_stream(ctx: Context, key: bytes) -> Stream | None:
    value: Stream | None = typed_value(ctx, key, Stream)
    return value


def _event(ctx: Context, event: str, key: bytes) -> None:
    """A keyspace event of the stream class (and a change for WATCH and blocked clients)."""
    ctx.keyspace.changed(event, key)


def _log(ctx: Context, record: list[bytes]) -> None:
    """Log a canonical record; its events are announced separately (``_event``)."""
    ctx.propagate(record, [])


def _claim_record(key: bytes, group_name: bytes, group: Group, stream_id: int, nack: Nack) -> list[bytes]:
    """Redis's streamPropagateXCLAIM: an idempotent XCLAIM that recreates a pending entry."""
    consumer = nack.consumer
    return [
        b"XCLAIM",
        key,
        group_name,
        consumer.name if consumer is not None else b"",
        b"0",
        format_id(stream_id),
        b"TIME",
        b"%d" % nack.delivery_time,
        b"RETRYCOUNT",
        b"%d" % nack.delivery_count,
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        format_id(group.last_id),
    ]


def _setid_record(key: bytes, group_name: bytes, group: Group) -> list[bytes]:
    return [
        b"XGROUP",
        b"SETID",
        key,
        group_name,
        format_id(group.last_id),
        b"ENTRIESREAD",
        b"%d" % group.entries_read,
    ]


# --- ids and entries -------------------------------------------------------------------------------


def strict_id(raw: bytes, missing_seq: int = 0) -> int:
    stream_id = parse_id(raw, missing_seq, strict=True)
    if stream_id is None:
        raise CommandError(INVALID_ID)
    return stream_id


def _interval_id(raw: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range bound: (id, exclusive); ``(`` makes it exclusive (then ``-``/``+`` are invalid)."""
    if len(raw) > 1 and raw[:1] == b"(":
        return strict_id(raw[1:], missing_seq), True
    stream_id = parse_id(raw, missing_seq)
    if stream_id is None:
        raise CommandError(INVALID_ID)
    return stream_id, False


def _range_start(raw: bytes) -> int:
    stream_id, exclusive = _interval_id(raw, 0)
    if exclusive:
        if stream_id == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        stream_id += 1
    return stream_id


def _range_end(raw: bytes) -> int:
    stream_id, exclusive = _interval_id(raw, MAX64)
    if exclusive:
        if stream_id == 0:
            raise CommandError("ERR invalid end ID for the interval")
        stream_id -= 1
    return stream_id


def entry_reply(stream_id: int, fields: Fields) -> list[object]:
    return [format_id(stream_id), list(fields)]


def _entries(stream: Stream, start: int, end: int, count: int = 0, reverse: bool = False) -> list[object]:
    return [entry_reply(i, f) for i, f in stream.range(start, end, count, reverse)]


def encoded_entries(stream: Stream, start: int, end: int, count: int = 0, reverse: bool = False) -> object:
    """``_entries``'s reply encoded here, in one pass (RESP2 and RESP3 write it alike): the
    generic encoder's per-value dispatch was three quarters of a big XRANGE's time."""
    parts: list[bytes] = [b""]
    append = parts.append
    n = 0
    for stream_id, fields in stream.range(start, end, count, reverse):
        text = b"%d-%d" % (stream_id >> 64, stream_id & MAX64)
        append(b"*2\r\n$%d\r\n%b\r\n*%d\r\n" % (len(text), text, len(fields)))
        for item in fields:
            append(b"$%d\r\n%b\r\n" % (len(item), item))
        n += 1
    if not n:
        return []
    parts[0] = b"*%d\r\n" % n
    return memoryview(b"".join(parts))


# --- XADD / XTRIM ----------------------------------------------------------------------------------


class TrimArgs:
    __slots__ = ("approx", "id", "id_index", "limit", "maxlen", "minid", "no_mkstream", "seq_given")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: int | None = None
        self.approx = False
        self.limit = 0
        self.no_mkstream = False
        self.id: int | None = None  # None: "*"
        self.seq_given = True
        self.id_index = 0

    @property
    def trims(self) -> bool:
        return self.maxlen is not None or self.minid is not None


_BOTH_STRATEGIES: Final = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"


def _parse_add_or_trim(ctx: Context, argv: list[bytes], xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply, in its order and with its texts."""
    args = TrimArgs()
    argc = len(argv)
    limit_given = False
    i = 2
    while i < argc:
        opt = argv[i]
        if xadd and opt == b"*":  # (the common XADD: no option to look at)
            break
        more = argc - 1 - i
        upper = opt.upper()
        if upper in (b"MAXLEN", b"MINID") and more:
            if args.trims:
                raise CommandError(_BOTH_STRATEGIES)
            args.approx = False
            following = argv[i + 1]
            if more >= 2 and following == b"~":
                args.approx = True
                i += 1
            elif more >= 2 and following == b"=":
                i += 1
            if upper == b"MAXLEN":
                maxlen = parse_int(argv[i + 1])
                if maxlen < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
                args.maxlen = maxlen
            else:
                args.minid = strict_id(argv[i + 1])
            i += 2
            continue
        if upper == b"LIMIT" and more:
            limit = parse_int(argv[i + 1])
            if limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            args.limit = limit
            limit_given = True
            i += 2
            continue
        if xadd and upper == b"NOMKSTREAM":
            args.no_mkstream = True
            i += 1
            continue
        if xadd:
            ms_raw, dash, seq_raw = opt.partition(b"-")
            if dash and seq_raw == b"*":
                ms = parse_id(ms_raw, 0, strict=True) if len(opt) < 128 else None
                if ms is None:
                    raise CommandError(INVALID_ID)
                args.id = ms >> 64
                args.seq_given = False
            else:
                args.id = strict_id(opt)
            break
        raise CommandError(SYNTAX)
    args.id_index = i
    if args.limit and not args.trims:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and not args.trims:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not args.approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif args.approx:
        limit = 100 * ctx.config.stream_node_max_entries
        args.limit = 10000 if limit <= 0 else min(limit, 1000000)
    else:
        args.limit = 0
    return args


def _trim(ctx: Context, stream: Stream, args: TrimArgs) -> int:
    return stream.trim(args.maxlen, args.minid, args.approx, args.limit)


@command(
    "xadd",
    -5,
    (WRITE, DENYOOM, FAST),
    group=STREAM,
    since="5.0.0",
    complexity="O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
    summary="Appends a new entry to a stream",
)
def xadd_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]"""
    args = _parse_add_or_trim(ctx, argv, True)
    field_pos = args.id_index + 1
    pairs = len(argv) - field_pos
    if pairs < 2 or pairs % 2:
        raise arity_error("xadd")
    if args.id == 0 and args.seq_given:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    key = argv[1]
    stream = get_stream(ctx, key)
    created = stream is None
    if stream is None:
        if args.no_mkstream:
            return None
        stream = Stream()
    if stream.last_id == MAX_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    if args.id is None:
        stream_id = stream.next_id(ctx.keyspace.clock())
    elif not args.seq_given:
        stream_id = stream.id_for_ms(args.id)
    else:
        stream_id = args.id if args.id > stream.last_id else None
    if stream_id is None:
        raise CommandError(NOT_GREATER)
    config = ctx.config
    stream.append(stream_id, argv[field_pos:], config.stream_node_max_entries, config.stream_node_max_bytes)
    if created:
        ctx.keyspace.set(key, stream)
    trimmed = _trim(ctx, stream, args) if args.trims else 0
    text = b"%d-%d" % (stream_id >> 64, stream_id & MAX64)
    if trimmed:
        ctx.propagate([b"XADD", key, b"MAXLEN", b"=", b"%d" % len(stream), text, *argv[field_pos:]])
        _event(ctx, "xtrim", key)
    else:
        ctx.propagate([b"XADD", key, text, *argv[field_pos:]])
    return text


@command(
    "xtrim",
    -4,
    (WRITE,),
    group=STREAM,
    since="5.0.0",
    complexity="O(N), with N being the number of evicted entries. Constant times are very small however, since "
    "entries are organized in macro nodes containing multiple entries that can be released with a single "
    "deallocation.",
    summary="Trims the stream to (approximately if '~' is passed) a certain size",
)
def xtrim_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]"""
    args = _parse_add_or_trim(ctx, argv, False)
    key = argv[1]
    stream = get_stream(ctx, key)
    if stream is None:
        return 0
    deleted = _trim(ctx, stream, args)
    if deleted:
        ctx.propagate([b"XTRIM", key, b"MAXLEN", b"=", b"%d" % len(stream)])
    return deleted


@command("xlen", 2, (READONLY, FAST), group=STREAM, since="5.0.0", summary="Return the number of entries in a stream")
def xlen_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    stream = get_stream(ctx, argv[1])
    return 0 if stream is None else len(stream)


def _xrange(ctx: Context, argv: list[bytes], reverse: bool) -> object:
    start_raw, end_raw = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    start = _range_start(start_raw)
    end = _range_end(end_raw)
    count = -1
    j = 4
    while j < len(argv):
        if argv[j].upper() == b"COUNT" and j + 1 < len(argv):
            count = max(0, parse_int(argv[j + 1]))
            j += 2
        else:
            raise CommandError(SYNTAX)
    stream = get_stream(ctx, argv[1])
    if stream is None:
        return []
    if count == 0:
        return NullArray
    return encoded_entries(stream, start, end, max(count, 0), reverse)


_RANGE_COMPLEXITY: Final = (
    "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the "
    "first 10 elements with COUNT), you can consider it O(1)."
)


@command(
    "xrange",
    -4,
    (READONLY,),
    group=STREAM,
    since="5.0.0",
    complexity=_RANGE_COMPLEXITY,
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval",
)
def xrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XRANGE key start end [COUNT count]"""
    return _xrange(ctx, argv, False)


@command(
    "xrevrange",
    -4,
    (READONLY,),
    group=STREAM,
    since="5.0.0",
    complexity=_RANGE_COMPLEXITY,
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse "
    "order (from greater to smaller IDs) compared to XRANGE",
)
def xrevrange_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XREVRANGE key end start [COUNT count]"""
    return _xrange(ctx, argv, True)


@command(
    "xdel",
    -3,
    (WRITE, FAST),
    group=STREAM,
    since="5.0.0",
    complexity="O(1) for each single item to delete in the stream, regardless of the stream size.",
    summary="Removes the specified entries from the stream. Returns the number of items actually deleted, that "
    "may be different from the number of IDs passed in case certain IDs do not exist.",
)
def xdel_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XDEL key id [id ...]"""
    key = argv[1]
    stream = get_stream(ctx, key)
    if stream is None:
        return 0
    ids = [strict_id(raw) for raw in argv[2:]]
    deleted = sum(stream.delete(stream_id) for stream_id in ids)
    if deleted:
        ctx.propagate(argv)
    return deleted


@command(
    "xsetid",
    -3,
    (WRITE, DENYOOM, FAST),
    group=STREAM,
    since="5.0.0",
    summary="An internal command for replicating stream values",
)
def xsetid_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]"""
    stream_id = strict_id(argv[2])
    entries_added = -1
    max_deleted = 0
    i = 3
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = argv[i].upper()
        if opt == b"ENTRIESADDED" and more:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif opt == b"MAXDELETEDID" and more:
            max_deleted = strict_id(argv[i + 1])
            if stream_id < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
        else:
            raise CommandError(SYNTAX)
        i += 2
    key = argv[1]
    stream = get_stream(ctx, key)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    if stream.entries:
        if stream_id < stream.last_entry_id():
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and len(stream) > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    stream.last_id = stream_id
    if entries_added != -1:
        stream.entries_added = entries_added
    if max_deleted:
        stream.max_deleted_id = max_deleted
    ctx.propagate(argv)
    return OK


# --- XREAD / XREADGROUP ----------------------------------------------------------------------------


class ReadArgs:
    __slots__ = ("consumer", "count", "group", "keys", "noack", "timeout")

    def __init__(self) -> None:
        self.timeout = -1  # ms; -1: no BLOCK
        self.count = 0
        self.group: bytes | None = None
        self.consumer = b""
        self.noack = False
        self.keys: list[bytes] = []


def _parse_read(argv: list[bytes], readgroup: bool, script: bool = False) -> tuple[ReadArgs, list[bytes]]:
    """XREAD / XREADGROUP options, in xreadCommand's order: the args and the raw ids. BLOCK is
    refused from a script (``script``), as Redis refuses it for backward compatibility."""
    args = ReadArgs()
    argc = len(argv)
    streams_at = 0
    i = 1
    while i < argc:
        more = argc - i - 1
        opt = argv[i].upper()
        if opt == b"BLOCK" and more:
            if script:
                name = argv[0].decode("ascii", "replace").lower()
                raise CommandError(f"ERR {name} command is not allowed with BLOCK option from scripts")
            i += 1
            timeout = parse_int(argv[i], "ERR timeout is not an integer or out of range")
            if timeout < 0:
                raise CommandError("ERR timeout is negative")
            args.timeout = timeout
        elif opt == b"COUNT" and more:
            i += 1
            args.count = max(0, parse_int(argv[i]))
        elif opt == b"STREAMS" and more:
            streams_at = i + 1
            if (argc - streams_at) % 2:
                raise CommandError(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
                )
            break
        elif opt == b"GROUP" and more >= 2:
            if not readgroup:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            args.group, args.consumer = argv[i + 1], argv[i + 2]
            i += 2
        elif opt == b"NOACK":
            if not readgroup:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            args.noack = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if not streams_at:
        raise CommandError(SYNTAX)
    if readgroup and args.group is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    half = (argc - streams_at) // 2
    args.keys = argv[streams_at : streams_at + half]
    return args, argv[streams_at + half :]


_NEW_ONLY: Final = -1  # XREADGROUP's ">"


def _wrap(client: ClientState, items: list[tuple[bytes, object]]) -> object:
    """XREAD's reply: an array of [key, entries] (RESP2) or a map (RESP3), a key given twice twice."""
    if not client.resp3:
        return [[key, value] for key, value in items]
    reply = dict(items)
    if len(reply) == len(items):
        return reply
    parts = [b"%%%d\r\n" % len(items)]  # a map with a repeated key, as Redis writes it
    for key, value in items:
        encode_reply(key, True, parts)
        encode_reply(value, True, parts)
    return memoryview(b"".join(parts))


def _read_group(
    ctx: Context,
    stream: Stream,
    key: bytes,
    group_name: bytes,
    group: Group,
    consumer_name: bytes,
    after: int,
    count: int,
    noack: bool,
) -> list[object]:
    """Serve XREADGROUP on one stream: new entries (``after`` is _NEW_ONLY) or the consumer's
    history after ``after``. Logs what it changed."""
    now = ctx.keyspace.clock()
    ctx.keyspace.writing(key)  # (the rewrite dumps the key before it changes)
    consumer, created = group.consumer(consumer_name, now)
    if created:
        _log(ctx, [b"XGROUP", b"CREATECONSUMER", key, group_name, consumer_name])
        _event(ctx, "xgroup-createconsumer", key)
    if after != _NEW_ONLY:
        return _history(ctx, stream, key, group_name, group, consumer, after, count, now)
    reply: list[object] = []
    moved = False
    for stream_id, fields in stream.range(group.last_id + 1, MAX_ID, count):
        if stream_id > group.last_id:
            stream.advance_group(group, stream_id)
            moved = True
        reply.append(entry_reply(stream_id, fields))
        if noack:
            continue
        nack = group.pel.get(stream_id)
        if nack is None:
            nack = group.pel[stream_id] = Nack(consumer, now)
            consumer.pel[stream_id] = nack
        else:
            group.assign(stream_id, nack, consumer)
            nack.delivery_time = now
            nack.delivery_count = 1
        _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
    if moved:
        _log(ctx, _setid_record(key, group_name, group))
    return reply


def _history(
    ctx: Context,
    stream: Stream,
    key: bytes,
    group_name: bytes,
    group: Group,
    consumer: Consumer,
    after: int,
    count: int,
    now: int,
) -> list[object]:
    """streamReplyWithRangeFromConsumerPEL: the consumer's pending entries after ``after``."""
    reply: list[object] = []
    if after >= MAX_ID:
        return reply
    for stream_id in list(consumer.pel.irange(after + 1)):
        if count and len(reply) >= count:
            break
        fields = stream.entries.get(stream_id)
        if fields is None:
            reply.append([format_id(stream_id), NullArray])
            continue
        nack = consumer.pel[stream_id]
        nack.delivery_time = now
        nack.delivery_count += 1
        reply.append(entry_reply(stream_id, fields))
        _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
    return reply


def _no_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(
        f"NOGROUP No such key '{_s(key)}' or consumer group '{_s(group)}' in XREADGROUP with GROUP option"
    )


def _xread(ctx: Context, client: ClientState, argv: list[bytes], readgroup: bool) -> object:
    args, raw_ids = _parse_read(argv, readgroup, client.script)
    keys = args.keys
    group_name = args.group
    after: list[int] = []
    groups: list[Group | None] = []
    for key, raw in zip(keys, raw_ids, strict=True):
        stream = get_stream(ctx, key)
        group: Group | None = None
        if group_name is not None:
            group = None if stream is None else stream.groups.get(group_name)
            if group is None:
                raise _no_group(key, group_name)
        groups.append(group)
        if raw == b"$":
            if readgroup:
                raise CommandError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of "
                    "this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would "
                    "just return an empty result set."
                )
            after.append(stream.last_id if stream is not None else 0)
        elif raw == b">":
            if not readgroup:
                raise CommandError(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
                    "<consumer> option."
                )
            after.append(_NEW_ONLY)
        else:
            after.append(strict_id(raw))
    served: list[tuple[bytes, object]] = []
    for index, key in enumerate(keys):
        stream = get_stream(ctx, key)
        if stream is None:
            continue
        group = groups[index]
        gt = after[index]
        if group is not None:
            assert group_name is not None
            if gt == _NEW_ONLY and not (stream.entries and stream.last_entry_id() > group.last_id):
                continue
            entries: object = _read_group(
                ctx, stream, key, group_name, group, args.consumer, gt, args.count, args.noack
            )
        else:
            if not (stream.entries and stream.last_entry_id() > gt):
                continue
            entries = encoded_entries(stream, gt + 1, MAX_ID, args.count)
        served.append((key, entries))
    if served:
        return _wrap(client, served)
    if args.timeout == -1 or ctx.in_transaction:
        return NullArray
    count = args.count or XREAD_BLOCKED_DEFAULT_COUNT
    waited = dict(zip(keys, after, strict=True))

    def serve(ctx: Context, client: ClientState, key: bytes) -> object | None:
        value = ctx.keyspace.get(key)
        if group_name is not None:
            if type(value) is not Stream:
                raise CommandError("UNBLOCKED the stream key no longer exists")
            group = value.groups.get(group_name)
            if group is None:
                raise CommandError("NOGROUP the consumer group this client was blocked on no longer exists")
            if value.last_id <= group.last_id:
                return None
            entries: object = _read_group(
                ctx, value, key, group_name, group, args.consumer, _NEW_ONLY, count, args.noack
            )
        else:
            if type(value) is not Stream or value.last_id <= waited[key]:
                return None
            entries = encoded_entries(value, waited[key] + 1, MAX_ID, count)
        return _wrap(client, [(key, entries)])

    return Block(list(dict.fromkeys(keys)), args.timeout / 1000, serve, NullArray, argv, consume=False)


@command(
    "xread",
    -4,
    (READONLY, BLOCKING, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=lambda argv: _streams_keys(argv, 1),
    group=STREAM,
    since="5.0.0",
    complexity="For each stream mentioned: O(N) with N being the number of elements being returned, it means "
    "that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in "
    "order to serve the M clients blocked on the stream getting new data.",
    summary="Return never seen elements in multiple streams, with IDs greater than the ones reported by the "
    "caller for each stream. Can block.",
)
def xread_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]"""
    return _xread(ctx, client, argv, False)


@command(
    "xreadgroup",
    -7,
    (WRITE, BLOCKING, MOVABLEKEYS),
    keys=(0, 0, 0),
    find_keys=lambda argv: _streams_keys(argv, 4),
    group=STREAM,
    since="5.0.0",
    complexity="For each stream mentioned: O(M) with M being the number of elements returned. If M is constant "
    "(e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when "
    "XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting "
    "new data.",
    summary="Return new entries from a stream using a consumer group, or access the history of the pending "
    "entries for a given consumer. Can block.",
)
def xreadgroup_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...] id [id ...]"""
    return _xread(ctx, client, argv, True)


# --- XGROUP ----------------------------------------------------------------------------------------

_XGROUP_HELP: Final = [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
]

container(
    "xgroup",
    -2,
    group=STREAM,
    since="5.0.0",
    summary="A container for consumer groups commands",
    help=_XGROUP_HELP,
)


def _subcommand_error(argv: list[bytes]) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{_s(argv[1][:128])}'. "
        f"Try {_s(argv[0]).upper()} HELP."
    )


def _xgroup_lookup(
    ctx: Context, argv: list[bytes], *, need_group: bool
) -> tuple[Stream | None, Group | None, int, bool]:
    """xgroupCommand's common part: (stream, group, entries_read, mkstream), with its errors."""
    create = argv[1].upper() == b"CREATE"
    setid = argv[1].upper() == b"SETID"
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 5
    while i < len(argv):
        opt = argv[i].upper()
        if create and opt == b"MKSTREAM":
            mkstream = True
            i += 1
        elif (create or setid) and opt == b"ENTRIESREAD" and i + 1 < len(argv):
            entries_read = parse_int(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise _subcommand_error(argv)
    key, name = argv[2], argv[3]
    stream = get_stream(ctx, key)
    group = None
    if not mkstream:
        if stream is None:
            raise CommandError(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                "the MKSTREAM option to create an empty stream automatically."
            )
        group = stream.groups.get(name)
        if group is None and need_group:
            raise CommandError(f"NOGROUP No such consumer group '{_s(name)}' for key name '{_s(key)}'")
    elif stream is not None:
        group = stream.groups.get(name)
    return stream, group, entries_read, mkstream


@command(
    "create",
    -5,
    (WRITE, DENYOOM),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xgroup",
    summary="Create a consumer group.",
)
def xgroup_create_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]"""
    stream, group, entries_read, _ = _xgroup_lookup(ctx, argv, need_group=False)
    if len(argv) > 8:
        raise _subcommand_error(argv)
    key, name = argv[2], argv[3]
    last_id = (stream.last_id if stream is not None else 0) if argv[4] == b"$" else strict_id(argv[4])
    if group is not None:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    if stream is None:
        stream = Stream()
        ctx.keyspace.set(key, stream)
    stream.groups[name] = Group(last_id, entries_read)
    record = [b"XGROUP", b"CREATE", key, name, format_id(last_id), b"MKSTREAM", b"ENTRIESREAD", b"%d" % entries_read]
    _log(ctx, record)
    _event(ctx, "xgroup-create", key)
    return OK


@command(
    "setid",
    -5,
    (WRITE,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xgroup",
    summary="Set a consumer group to an arbitrary last delivered ID value.",
)
def xgroup_setid_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XGROUP SETID key group id|$ [ENTRIESREAD n]"""
    if len(argv) not in (5, 7):
        _xgroup_lookup(ctx, argv, need_group=True)
        raise _subcommand_error(argv)
    stream, group, entries_read, _ = _xgroup_lookup(ctx, argv, need_group=True)
    assert stream is not None
    assert group is not None
    if argv[4] == b"$":
        last_id = stream.last_id
    else:
        parsed = parse_id(argv[4])
        if parsed is None:
            raise CommandError(INVALID_ID)
        last_id = parsed
    group.last_id = last_id
    group.entries_read = entries_read
    _log(ctx, _setid_record(argv[2], argv[3], group))
    _event(ctx, "xgroup-setid", argv[2])
    return OK


@command(
    "destroy",
    4,
    (WRITE,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xgroup",
    complexity="O(N) where N is the number of entries in the group's pending entries list (PEL).",
    summary="Destroy a consumer group.",
)
def xgroup_destroy_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XGROUP DESTROY key group"""
    stream, group, _, _ = _xgroup_lookup(ctx, argv, need_group=False)
    if stream is None or group is None:
        return 0
    del stream.groups[argv[3]]
    _log(ctx, argv)
    _event(ctx, "xgroup-destroy", argv[2])  # (wakes the XREADGROUP clients blocked on it)
    return 1


@command(
    "createconsumer",
    5,
    (WRITE, DENYOOM),
    keys=(2, 2, 1),
    group=STREAM,
    since="6.2.0",
    parent="xgroup",
    summary="Create a consumer in a consumer group.",
)
def xgroup_createconsumer_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XGROUP CREATECONSUMER key group consumer"""
    _, group, _, _ = _xgroup_lookup(ctx, argv, need_group=True)
    assert group is not None
    if argv[4] in group.consumers:
        return 0
    group.consumers[argv[4]] = Consumer(argv[4], ctx.keyspace.clock())
    _log(ctx, argv)
    _event(ctx, "xgroup-createconsumer", argv[2])
    return 1


@command(
    "delconsumer",
    5,
    (WRITE,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xgroup",
    summary="Delete a consumer from a consumer group.",
)
def xgroup_delconsumer_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XGROUP DELCONSUMER key group consumer"""
    _, group, _, _ = _xgroup_lookup(ctx, argv, need_group=True)
    assert group is not None
    if argv[4] not in group.consumers:
        return 0
    pending = group.delete_consumer(argv[4])
    _log(ctx, argv)
    _event(ctx, "xgroup-delconsumer", argv[2])
    return pending


# --- XACK / XPENDING / XCLAIM / XAUTOCLAIM ----------------------------------------------------------


@command(
    "xack",
    -4,
    (WRITE, FAST),
    group=STREAM,
    since="5.0.0",
    complexity="O(1) for each message ID processed.",
    summary="Marks a pending message as correctly processed, effectively removing it from the pending entries "
    "list of the consumer group. Return value of the command is the number of messages successfully "
    "acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
)
def xack_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XACK key group id [id ...]"""
    stream = get_stream(ctx, argv[1])
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        return 0
    ids = [strict_id(raw) for raw in argv[3:]]
    acked = sum(group.ack(stream_id) for stream_id in ids)
    if acked:
        _log(ctx, argv)
    return acked


def _key_group_error(argv: list[bytes]) -> CommandError:
    return CommandError(f"NOGROUP No such key '{_s(argv[1])}' or consumer group '{_s(argv[2])}'")


@command(
    "xpending",
    -3,
    (READONLY,),
    group=STREAM,
    since="5.0.0",
    complexity="O(N) with N being the number of elements returned, so asking for a small fixed number of entries "
    "per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When "
    "the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an "
    "additional O(N) time for iterating every consumer.",
    summary="Return information and entries from a stream consumer group pending entries list, that are messages "
    "fetched but never acknowledged.",
)
def xpending_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XPENDING key group [[IDLE min-idle-time] start end count [consumer]]"""
    argc = len(argv)
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(SYNTAX)
    start = end = count = minidle = 0
    consumer_name = None
    if argc >= 6:
        at = 3
        if argv[3].upper() == b"IDLE":
            minidle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            at += 2
        count = max(0, parse_int(argv[at + 2]))
        start = _range_start(argv[at])
        end = _range_end(argv[at + 1])
        if at + 3 < argc:
            consumer_name = argv[at + 3]
    stream = get_stream(ctx, argv[1])
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        raise _key_group_error(argv)
    if argc == 3:
        if not group.pel:
            return [0, None, None, NullArray]
        owners = [
            [name, b"%d" % len(consumer.pel)] for name, consumer in sorted(group.consumers.items()) if consumer.pel
        ]
        return [len(group.pel), format_id(group.pel.keys()[0]), format_id(group.pel.keys()[-1]), owners]
    pel = group.pel
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        pel = consumer.pel
    now = ctx.keyspace.clock()
    reply: list[object] = []
    if not count or start > end:
        return reply
    for stream_id in pel.irange(start, end):
        nack = pel[stream_id]
        if minidle and now - nack.delivery_time < minidle:
            continue
        owner = nack.consumer.name if nack.consumer is not None else b""
        reply.append([format_id(stream_id), owner, max(0, now - nack.delivery_time), nack.delivery_count])
        if len(reply) >= count:
            break
    return reply


@command(
    "xclaim",
    -6,
    (WRITE, FAST),
    group=STREAM,
    since="5.0.0",
    complexity="O(log N) with N being the number of messages in the PEL of the consumer group.",
    summary="Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered "
    "to the specified consumer.",
)
def xclaim_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE]
    [JUSTID] [LASTID id]"""
    key, group_name = argv[1], argv[2]
    stream = get_stream(ctx, key)
    group = None if stream is None else stream.groups.get(group_name)
    if stream is None or group is None:
        raise _key_group_error(argv)
    minidle = max(0, parse_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"))
    ids: list[int] = []
    j = 5
    while j < len(argv):
        parsed = parse_id(argv[j], 0, strict=True)
        if parsed is None:
            break
        ids.append(parsed)
        j += 1
    now = ctx.keyspace.clock()
    retrycount = -1
    delivery_time = -1
    force = justid = False
    last_id = 0
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = argv[j].upper()
        if opt == b"FORCE":
            force = True
        elif opt == b"JUSTID":
            justid = True
        elif opt == b"IDLE" and more:
            j += 1
            delivery_time = now - parse_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"TIME" and more:
            j += 1
            delivery_time = parse_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"RETRYCOUNT" and more:
            j += 1
            retrycount = parse_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"LASTID" and more:
            j += 1
            last_id = strict_id(argv[j])
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_s(argv[j])}'")
        j += 1
    moved = last_id > group.last_id
    if moved:
        group.last_id = last_id
    if delivery_time == -1 or delivery_time < 0 or delivery_time > now:
        delivery_time = now
    consumer: Consumer | None = None
    reply: list[object] = []
    for stream_id in ids:
        nack = group.pel.get(stream_id)
        fields = stream.entries.get(stream_id)
        if fields is None:
            if nack is not None:
                _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
                moved = False
                group.ack(stream_id)
            continue
        if force and nack is None:
            nack = group.pel[stream_id] = Nack(None, now)
        if nack is None:
            continue
        if nack.consumer is not None and minidle and now - nack.delivery_time < minidle:
            continue
        if consumer is None:
            consumer, created = group.consumer(argv[3], now)
            if created:
                _event(ctx, "xgroup-createconsumer", key)
        group.assign(stream_id, nack, consumer)
        nack.delivery_time = delivery_time
        if retrycount >= 0:
            nack.delivery_count = retrycount
        elif not justid:
            nack.delivery_count += 1
        reply.append(format_id(stream_id) if justid else entry_reply(stream_id, fields))
        _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
        moved = False
    if moved:
        _log(ctx, _setid_record(key, group_name, group))
    return reply


@command(
    "xautoclaim",
    -6,
    (WRITE, FAST),
    group=STREAM,
    since="6.2.0",
    complexity="O(1) if COUNT is small.",
    summary="Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered "
    "to the specified consumer.",
)
def xautoclaim_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]"""
    minidle = max(0, parse_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"))
    start = _range_start(argv[5])
    count = 100
    justid = False
    j = 6
    while j < len(argv):
        opt = argv[j].upper()
        if opt == b"COUNT" and j + 1 < len(argv):
            high = INT64_MAX // 16
            count = parse_int(argv[j + 1], "ERR COUNT must be > 0", low=1, high=high)
            j += 1
        elif opt == b"JUSTID":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    key, group_name = argv[1], argv[2]
    stream = get_stream(ctx, key)
    group = None if stream is None else stream.groups.get(group_name)
    if stream is None or group is None:
        raise _key_group_error(argv)
    attempts = count * 10
    now = ctx.keyspace.clock()
    consumer: Consumer | None = None
    claimed: list[object] = []
    deleted: list[bytes] = []
    pel = group.pel
    cursor = start
    next_id = 0
    while True:
        position = pel.bisect_left(cursor)
        if position >= len(pel):
            next_id = 0
            break
        stream_id = pel.keys()[position]
        if not (attempts and count):
            next_id = stream_id
            break
        attempts -= 1
        cursor = stream_id + 1
        nack = pel[stream_id]
        fields = stream.entries.get(stream_id)
        if fields is None:
            _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
            group.ack(stream_id)
            deleted.append(format_id(stream_id))
            count -= 1
            continue
        if minidle and now - nack.delivery_time < minidle:
            continue
        if consumer is None:
            consumer, created = group.consumer(argv[3], now)
            if created:
                _event(ctx, "xgroup-createconsumer", key)
        group.assign(stream_id, nack, consumer)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        claimed.append(format_id(stream_id) if justid else entry_reply(stream_id, fields))
        count -= 1
        _log(ctx, _claim_record(key, group_name, group, stream_id, nack))
    return [format_id(next_id), claimed, deleted]


# --- XINFO -----------------------------------------------------------------------------------------

_XINFO_HELP: Final = [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
]

container(
    "xinfo",
    -2,
    group=STREAM,
    since="5.0.0",
    summary="A container for stream introspection commands",
    help=_XINFO_HELP,
)


def _xinfo_stream_value(ctx: Context, key: bytes) -> Stream:
    stream = get_stream(ctx, key)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    return stream


@command(
    "consumers",
    4,
    (READONLY,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xinfo",
    summary="List the consumers in a consumer group",
)
def xinfo_consumers_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XINFO CONSUMERS key group"""
    stream = _xinfo_stream_value(ctx, argv[2])
    group = stream.groups.get(argv[3])
    if group is None:
        raise CommandError(f"NOGROUP No such consumer group '{_s(argv[3])}' for key name '{_s(argv[2])}'")
    now = ctx.keyspace.clock()
    return [
        {b"name": name, b"pending": len(consumer.pel), b"idle": max(0, now - consumer.seen_time)}
        for name, consumer in sorted(group.consumers.items())
    ]


def _lag(stream: Stream, group: Group) -> int | None:
    return stream.lag(group)


def _entries_read(group: Group) -> int | None:
    return None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read


@command(
    "groups",
    3,
    (READONLY,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xinfo",
    summary="List the consumer groups of a stream",
)
def xinfo_groups_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XINFO GROUPS key"""
    stream = _xinfo_stream_value(ctx, argv[2])
    return [
        {
            b"name": name,
            b"consumers": len(group.consumers),
            b"pending": len(group.pel),
            b"last-delivered-id": format_id(group.last_id),
            b"entries-read": _entries_read(group),
            b"lag": _lag(stream, group),
        }
        for name, group in sorted(stream.groups.items())
    ]


@command(
    "stream",
    -3,
    (READONLY,),
    keys=(2, 2, 1),
    group=STREAM,
    since="5.0.0",
    parent="xinfo",
    summary="Get information about a stream",
)
def xinfo_stream_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """XINFO STREAM key [FULL [COUNT count]]"""
    stream = _xinfo_stream_value(ctx, argv[2])
    options = argv[3:]
    full = bool(options)
    count = 10
    if options:
        if len(options) not in (1, 3) or options[0].upper() != b"FULL":
            raise _subcommand_error(argv)
        if len(options) == 3:
            if options[1].upper() != b"COUNT":
                raise _subcommand_error(argv)
            count = parse_int(options[2])
            if count < 0:
                count = 10
    info: dict[bytes, object] = {
        b"length": len(stream),
        b"radix-tree-keys": len(stream.nodes),
        b"radix-tree-nodes": len(stream.nodes) + 1,
        b"last-generated-id": format_id(stream.last_id),
        b"max-deleted-entry-id": format_id(stream.max_deleted_id),
        b"entries-added": stream.entries_added,
        b"recorded-first-entry-id": format_id(stream.first_id),
    }
    if not full:
        info[b"groups"] = len(stream.groups)
        first = _entries(stream, 0, MAX_ID, 1)
        last = _entries(stream, 0, MAX_ID, 1, reverse=True)
        info[b"first-entry"] = first[0] if first else None
        info[b"last-entry"] = last[0] if last else None
        return info
    info[b"entries"] = _entries(stream, 0, MAX_ID, count)
    groups: list[object] = []
    for name, group in sorted(stream.groups.items()):
        pending = [
            [format_id(i), n.consumer.name if n.consumer is not None else b"", n.delivery_time, n.delivery_count]
            for i, n in _first(group.pel, count)
        ]
        consumers = [
            {
                b"name": consumer_name,
                b"seen-time": consumer.seen_time,
                b"pel-count": len(consumer.pel),
                b"pending": [[format_id(i), n.delivery_time, n.delivery_count] for i, n in _first(consumer.pel, count)],
            }
            for consumer_name, consumer in sorted(group.consumers.items())
        ]
        groups.append(
            {
                b"name": name,
                b"last-delivered-id": format_id(group.last_id),
                b"entries-read": _entries_read(group),
                b"lag": _lag(stream, group),
                b"pel-count": len(group.pel),
                b"pending": pending,
                b"consumers": consumers,
            }
        )
    info[b"groups"] = groups
    return info


def _first(pel: SortedDict, count: int) -> list[tuple[int, Nack]]:
    """The first ``count`` (0: all) pending entries of a sorted PEL."""
    keys = pel.keys() if not count else pel.keys()[:count]
    return [(stream_id, pel[stream_id]) for stream_id in keys]


def _streams_keys(argv: list[bytes], start: int) -> list[bytes]:
    """COMMAND GETKEYS for XREAD / XREADGROUP, as 7.0's key spec finds them: the first STREAMS
    from ``argv[start]`` on, then the first half of what follows it (the other half are ids)."""
    for i in range(start, len(argv)):
        if argv[i].lower() == b"streams":
            half = (len(argv) - i - 1) // 2
            if half:
                return argv[i + 1 : i + 1 + half]
            break
    raise CommandError("ERR Invalid arguments specified for command")
