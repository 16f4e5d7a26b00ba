"""The client side of RESP: server bytes in, reply values out. Sans-IO, like the request parser.

Linear in its input however it is cut: an aggregate being read is kept as a stack of partly
filled frames and each element is parsed once, so a reply split over many reads is not re-parsed
from its start on every read (a 32 MB reply took 5.5 s that way, and an 80k-element array 9x the
time of a 20k one). Reads that arrive while an element is incomplete are kept as chunks and
joined only once the element can have completed (its bulk payload is all there, or a line end
arrived).

The reply value types (``ErrorReply``, ``SimpleString``, ``Verbatim``, ``SetReply``,
``PushReply``) are the codec's, from ``kvserver.protocol``.
"""

from __future__ import annotations

from typing import Final

from kvserver.protocol import (
    NEED_DATA,
    ErrorReply,
    InputBuffer,
    ProtocolError,
    PushReply,
    SetReply,
    SimpleString,
    Verbatim,
)

__all__ = ["NEED_DATA", "ReplyParser"]

_AGGREGATES: Final = {ord("*"): list, ord("~"): SetReply, ord(">"): PushReply}
_MAPS: Final = (ord("%"), ord("|"))
_BLOBS: Final = (ord("$"), ord("="), ord("!"))


class _Frame:
    """An aggregate being read: its items so far and how many elements it still lacks."""

    __slots__ = ("items", "key", "kind", "remaining")

    def __init__(self, kind: int, remaining: int) -> None:
        self.kind = kind
        self.remaining = remaining  # elements still to read (a map counts keys and values)
        self.items: list[object] | dict[object, object] = {} if kind in _MAPS else _AGGREGATES[kind]()
        self.key: object = None  # a map's key waiting for its value

    def add(self, value: object) -> None:
        items = self.items
        if isinstance(items, dict):
            if self.remaining % 2 == 0:
                self.key = _hashable(value)
            else:
                items[self.key] = value
        else:
            items.append(value)
        self.remaining -= 1


_OPENED: Final = object()  # an aggregate header was read: its elements follow
_SKIPPED: Final = object()  # an attribute was read and dropped: the value it decorates follows


class ReplyParser(InputBuffer):
    """Server bytes in, reply values out: ``feed(data)`` then ``next()`` until ``NEED_DATA``.

    Error replies come back as ``ErrorReply`` values (not raised): the caller decides. RESP3
    attributes are read and dropped; pushes come back as ``PushReply``.
    """

    __slots__ = ("_stack",)

    def __init__(self) -> None:
        super().__init__()
        self._stack: list[_Frame] = []  # the aggregates being read, outermost first

    def feed(self, data: bytes) -> None:
        if self._pos >= len(self._buf) and not self._chunks:
            self._buf = data  # nothing pending: parse the read itself, no copy
            self._pos = 0
            return
        self._chunks.append(data)
        self._chunks_len += len(data)
        if not self._ready:
            if self._need:
                self._ready = len(self._buf) - self._pos + self._chunks_len >= self._need
            else:
                self._ready = b"\n" in data

    def next(self) -> object:
        """The next complete reply, or ``NEED_DATA``."""
        if self._chunks:
            if not self._ready:
                return NEED_DATA
            self._assemble()
        self._ready = True
        stack = self._stack
        while True:
            value = self._element()
            if value is NEED_DATA:
                return NEED_DATA
            if value is _OPENED or value is _SKIPPED:
                continue
            while stack:  # hand the value to the aggregate it belongs to; close the full ones
                frame = stack[-1]
                frame.add(value)
                if frame.remaining:
                    break
                stack.pop()
                if frame.kind == 124:  # "|": an attribute, dropped; the decorated value follows
                    value = _SKIPPED
                    break
                value = frame.items
            else:
                if self._pos >= len(self._buf):
                    self._buf = b""
                    self._pos = 0
                return value

    def _element(self) -> object:
        """Read one element at ``_pos``: a scalar's value, ``_OPENED`` for an aggregate header
        (pushed on the stack), or ``NEED_DATA`` (nothing consumed)."""
        buf = self._buf
        start = self._pos
        if start >= len(buf):
            return NEED_DATA
        nl = buf.find(b"\r\n", start)
        if nl < 0:
            self._need = 0
            self._ready = False
            return NEED_DATA
        kind = buf[start]
        line = buf[start + 1 : nl]
        pos = nl + 2
        value: object
        if kind in _BLOBS:
            length = _length(line)
            if length < 0:
                value = None
            else:
                end = pos + length
                if end + 2 > len(buf):
                    self._need = end + 2 - start
                    self._ready = False
                    return NEED_DATA
                data = buf[pos:end]
                value = data if kind == 36 else Verbatim(data[4:]) if kind == 61 else ErrorReply(data)
                pos = end + 2
        elif kind == 43:  # "+"
            value = SimpleString(line)
        elif kind == 45:  # "-"
            value = ErrorReply(line)
        elif kind == 58 or kind == 40:  # ":" "("
            value = _length(line)
        elif kind in _AGGREGATES or kind in _MAPS:
            count = _length(line)
            self._pos = pos
            if count < 0:
                return None
            if kind in _MAPS:
                count *= 2
            frame = _Frame(kind, count)
            if not count:
                return _SKIPPED if kind == 124 else frame.items
            self._stack.append(frame)
            return _OPENED
        elif kind == 95:  # "_"
            value = None
        elif kind == 44:  # ","
            value = _parse_double(line)
        elif kind == 35:  # "#"
            value = line == b"t"
        else:
            raise ProtocolError(f"Protocol error: unknown reply type {bytes([kind])!r}")
        self._pos = pos
        return value


def _length(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise ProtocolError(f"Protocol error: invalid length {line[:32]!r}") from None


def _hashable(value: object) -> object:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _parse_double(text: bytes) -> float:
    lowered = text.lower()
    if lowered in (b"inf", b"+inf"):
        return float("inf")
    if lowered == b"-inf":
        return float("-inf")
    return float(text)
