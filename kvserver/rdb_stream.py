"""A stream's DUMP payload, sans IO: Redis 7.0's RDB_TYPE_STREAM_LISTPACKS_2, and the older
RDB_TYPE_STREAM_LISTPACKS (6.x) read.

The body is rdb.c's rdbSaveObject for a stream: the number of listpack nodes, then per node its
radix tree key (the node's master id, 128 bits big-endian, as a 16-byte string) and the listpack
laid out as t_stream.c's streamAppendItem lays it out::

    master entry: count deleted num-fields field_1 .. field_N 0
    entry:        flags ms-delta seq-delta [num-fields field_1 value_1 ..] | [value_1 ..] lp-count

(flags: 1 deleted, 2 same fields as the master entry; the deltas are from the node's key; lp-count
the entry's elements before it). Then the length, the last id, (type 19:) the first id, the
largest deleted id and the entries ever added; then the groups in name order, each with its last
id, (type 19:) its entries-read counter, its PEL (id, delivery time in ms, delivery count) and its
consumers in name order (name, seen time, the ids of their PEL).

``encode_stream`` writes kvserver's nodes (``Stream.nodes``, split where Redis splits them) so a
stream nobody deleted from comes out as Redis's bytes with ``rdbcompression no``; kvserver keeps no
deleted entries, so a node XDEL or an exact trim cut into is written with only its live entries
(``deleted`` 0), which Redis loads as the same stream. ``decode_stream`` checks every count
against the bytes present and refuses what would break the stream's invariants (ids out of order
or past the last id, a length that is not the entries', duplicate groups, consumers or pending
entries, a consumer's pending entry missing from its group's PEL) with ``BadPayload``.
"""

from __future__ import annotations

from typing import Final

from kvserver import rdb
from kvserver.rdb import BadPayload, Limits, Reader, encode_length, encode_string
from kvserver.stream import MAX64, Consumer, Fields, Group, Nack, Node, Stream, make_id

_FLAG_DELETED: Final = 1
_FLAG_SAMEFIELDS: Final = 2
_U64: Final = 1 << 64


def _id_bytes(stream_id: int) -> bytes:
    return stream_id.to_bytes(16, "big")


def _signed64(value: int) -> int:
    """A uint64 difference as Redis's int64 cast sees it."""
    value %= _U64
    return value - _U64 if value >= 1 << 63 else value


def _encode_id(stream_id: int) -> bytes:
    return encode_length(stream_id >> 64) + encode_length(stream_id & MAX64)


def _node_listpack(master: list[bytes], first: int, entries: list[tuple[int, Fields]]) -> bytes:
    items = [b"%d" % len(entries), b"0", b"%d" % len(master), *master, b"0"]
    for stream_id, fields in entries:
        names = list(fields[0::2])  # (the master's names are a list)
        ms_delta = b"%d" % _signed64((stream_id >> 64) - (first >> 64))
        seq_delta = b"%d" % _signed64((stream_id & MAX64) - (first & MAX64))
        if names == master:
            items += (b"%d" % _FLAG_SAMEFIELDS, ms_delta, seq_delta, *fields[1::2], b"%d" % (len(names) + 3))
        else:
            items += (b"0", ms_delta, seq_delta, b"%d" % len(names), *fields, b"%d" % (2 * len(names) + 4))
    return rdb.listpack(items)


def encode_stream(value: Stream, limits: Limits) -> bytes:
    """The type byte and body of ``value`` (RDB_TYPE_STREAM_LISTPACKS_2)."""
    nodes: list[bytes] = []
    ids = value.ids
    firsts = value.node_firsts
    for index, node in enumerate(value.nodes):
        following = firsts[index + 1] if index + 1 < len(firsts) else None
        window = ids.irange(node.first, following, inclusive=(True, False))
        entries = [(stream_id, value.entries[stream_id]) for stream_id in window]
        if entries:
            blob = _node_listpack(node.master, node.first, entries)
            nodes.append(encode_string(_id_bytes(node.first)) + encode_string(blob))
    out = [bytes((rdb.TYPE_STREAM_LISTPACKS_2,)), encode_length(len(nodes)), *nodes]
    out += (encode_length(len(value)), _encode_id(value.last_id), _encode_id(value.first_id))
    out += (_encode_id(value.max_deleted_id), encode_length(value.entries_added))
    out.append(encode_length(len(value.groups)))
    for name, group in sorted(value.groups.items()):
        out += (encode_string(name), _encode_id(group.last_id), encode_length(group.entries_read % _U64))
        out.append(encode_length(len(group.pel)))
        for stream_id, nack in group.pel.items():
            out += (_id_bytes(stream_id), (nack.delivery_time % _U64).to_bytes(8, "little"))
            out.append(encode_length(nack.delivery_count))
        out.append(encode_length(len(group.consumers)))
        for consumer_name, consumer in sorted(group.consumers.items()):
            out += (encode_string(consumer_name), (consumer.seen_time % _U64).to_bytes(8, "little"))
            out.append(encode_length(len(consumer.pel)))
            out += map(_id_bytes, consumer.pel)
    return b"".join(out)


# --- decoding ---------------------------------------------------------------------------------------


def _plain(reader: Reader) -> int:
    value, encoded = reader.length()
    if encoded:
        raise BadPayload("bad length")
    return value


def _read_id(reader: Reader) -> int:
    return make_id(_plain(reader), _plain(reader))


def _raw_id(reader: Reader) -> int:
    return int.from_bytes(reader.take(16), "big")


def _millis(reader: Reader) -> int:
    return int.from_bytes(reader.take(8), "little", signed=True)


class _Items:
    """A cursor over a node's listpack elements."""

    __slots__ = ("items", "pos")

    def __init__(self, items: list[bytes]) -> None:
        self.items = items
        self.pos = 0

    def take(self, n: int) -> list[bytes]:
        if n < 0 or self.pos + n > len(self.items):
            raise BadPayload("stream listpack too short")
        chunk = self.items[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        raw = self.take(1)[0]
        value = rdb._canonical_int(raw)
        if value is None:
            raise BadPayload("stream listpack integer expected")
        return value


def _decode_node(key: int, blob: bytes, stream: Stream) -> None:
    """Append a node's live entries to ``stream`` (in order, after every earlier entry)."""
    items = _Items(rdb.listpack_entries(blob))
    count = items.integer()
    deleted = items.integer()
    master_count = items.integer()
    if count < 0 or deleted < 0 or master_count <= 0:
        raise BadPayload("bad stream master entry")
    master = items.take(master_count)
    if items.integer() != 0:
        raise BadPayload("bad stream master entry terminator")
    node = Node(key, master)
    node.total = count + deleted
    node.size = len(blob)
    live = 0
    for _ in range(count + deleted):
        flags = items.integer()
        stream_id = make_id((key >> 64) + items.integer() & MAX64, (key & MAX64) + items.integer() & MAX64)
        if flags & _FLAG_SAMEFIELDS:
            fields = [item for pair in zip(master, items.take(master_count), strict=True) for item in pair]
            expected = master_count + 3
        else:
            pairs = items.integer()
            if pairs <= 0:
                raise BadPayload("bad stream entry field count")
            fields = items.take(2 * pairs)
            expected = 2 * pairs + 4
        if items.integer() != expected:
            raise BadPayload("bad stream entry lp-count")
        if flags & _FLAG_DELETED:
            continue
        if stream_id < key or stream_id <= stream.last_id:
            raise BadPayload("stream entries out of order")
        stream.ids.add(stream_id)
        stream.entries[stream_id] = tuple(fields)
        stream.last_id = stream_id
        live += 1
    if items.pos != len(items.items):
        raise BadPayload("stream listpack past its entries")
    if live != count:
        raise BadPayload("stream node count mismatch")
    if live:
        node.live = live
        stream.nodes.append(node)
        stream.node_firsts.append(key)


def decode_stream(reader: Reader, version: int) -> Stream:
    """A stream's body of RDB type 15 (``version`` 1) or 19 (``version`` 2)."""
    stream = Stream()
    previous_key = -1
    for _ in range(_plain(reader)):
        raw_key = reader.string()
        if len(raw_key) != 16:
            raise BadPayload("stream node key is not an id")
        key = int.from_bytes(raw_key, "big")
        if key <= previous_key or (stream.entries and key <= stream.last_id):
            raise BadPayload("stream nodes out of order")
        previous_key = key
        _decode_node(key, reader.string(), stream)
    last_entry = stream.last_id
    if _plain(reader) != len(stream.entries):
        raise BadPayload("stream length mismatch")
    stream.last_id = _read_id(reader)
    if stream.last_id < last_entry:
        raise BadPayload("stream last id before its last entry")
    if version == 2:
        stream.first_id = _read_id(reader)
        stream.max_deleted_id = _read_id(reader)
        stream.entries_added = _plain(reader)
    else:
        stream.first_id = stream.ids[0] if stream.ids else 0
        stream.entries_added = len(stream.entries)
    for _ in range(_plain(reader)):
        name = reader.string()
        if name in stream.groups:
            raise BadPayload("duplicate stream group")
        last_id = _read_id(reader)
        if version == 2:
            entries_read = _plain(reader)
            entries_read = entries_read - _U64 if entries_read >= 1 << 63 else entries_read
        else:
            entries_read = stream.estimate_entries_read(last_id)
        group = stream.groups[name] = Group(last_id, entries_read)
        for _ in range(_plain(reader)):
            stream_id = _raw_id(reader)
            delivery_time = _millis(reader)
            if stream_id in group.pel:
                raise BadPayload("duplicate stream PEL entry")
            group.pel[stream_id] = Nack(None, delivery_time, _plain(reader))
        for _ in range(_plain(reader)):
            consumer_name = reader.string()
            if consumer_name in group.consumers:
                raise BadPayload("duplicate stream consumer")
            consumer = group.consumers[consumer_name] = Consumer(consumer_name, _millis(reader))
            for _ in range(_plain(reader)):
                stream_id = _raw_id(reader)
                nack = group.pel.get(stream_id)
                if nack is None or nack.consumer is not None:
                    raise BadPayload("consumer PEL entry not in the group's PEL, or owned twice")
                nack.consumer = consumer
                consumer.pel[stream_id] = nack
    return stream


rdb.register(Stream, encode_stream)
rdb.register_decoder(rdb.TYPE_STREAM_LISTPACKS, lambda reader: decode_stream(reader, 1))
rdb.register_decoder(rdb.TYPE_STREAM_LISTPACKS_2, lambda reader: decode_stream(reader, 2))
