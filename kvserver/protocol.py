"""Sans-IO RESP codec shared by the server, the session client and the tests.

Three pieces, none of which touches a socket:
- ``RequestParser``: bytes from a client -> argument vectors (multibulk and inline), with Redis's
  limits and its exact protocol-error texts;
- ``encode_reply``: a reply value -> RESP2 or RESP3 bytes (the value types are defined here);
- ``encode_command``: what a client sends (the client's reply parser is ``kvserver.reply_parser``).

Partial input is normal: the request parser keeps the unparsed tail, and when a frame is known to
need N more bytes it only collects chunks until they have arrived, so a large value split across
many reads is joined once rather than re-parsed on every read.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from kvserver.native import mypyc_attr

__all__ = [
    "NEED_DATA",
    "NO_REPLY",
    "ErrorReply",
    "InputBuffer",
    "NullArray",
    "ProtocolError",
    "PushReply",
    "RequestParser",
    "SetReply",
    "SimpleString",
    "Verbatim",
    "encode_command",
    "encode_into",
    "encode_reply",
]

PROTO_INLINE_MAX_SIZE: Final = 64 * 1024
PROTO_MAX_BULK_LEN: Final = 512 * 1024 * 1024
# Redis accepts up to INT_MAX arguments and relies on its 1 GB query-buffer limit; we cap the
# count itself so that a bare "*2147483647" cannot make us accumulate an unbounded argv.
PROTO_MAX_MULTIBULK_LEN: Final = 1024 * 1024
# Before AUTH, Redis refuses frames that are large enough to be a memory attack.
UNAUTH_MAX_MULTIBULK_LEN: Final = 10
UNAUTH_MAX_BULK_LEN: Final = 16384


class _NeedData:
    """The sentinel for "no complete frame yet" (``None`` is RESP's nil, so it can't be that)."""

    _instance: ClassVar[_NeedData | None] = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


class ProtocolError(Exception):
    """The peer broke the protocol; the message is the Redis error text (without "ERR ")."""


# --- reply value types ---------------------------------------------------------------------------
# A reply is a plain Python value: bytes (bulk string), int, None (nil), list (array), dict (map),
# float (double), bool, or one of the marker types below.


@mypyc_attr(native_class=False)
class SimpleString(bytes):
    """A status reply such as +OK."""


@mypyc_attr(native_class=False)
class ErrorReply(bytes):
    """An error reply; the bytes hold the whole text, e.g. b"ERR syntax error"."""


@mypyc_attr(native_class=False)
class Pushes(bytes):
    """Frames a handler encoded that Redis sends as pushes (pub/sub confirmations): they reach
    the client even under CLIENT REPLY OFF or SKIP, as Redis's CLIENT_PUSHING does."""


@mypyc_attr(native_class=False)
class Verbatim(bytes):
    """A RESP3 verbatim text (INFO, CLIENT LIST); a plain bulk string in RESP2."""


@mypyc_attr(native_class=False)
class SetReply(list):  # type: ignore[type-arg]
    """A RESP3 set (~); an array in RESP2."""


@mypyc_attr(native_class=False)
class PushReply(list):  # type: ignore[type-arg]
    """A RESP3 out-of-band push (>)."""


class _NullArray:
    def __repr__(self) -> str:
        return "NullArray"


NullArray: Final = _NullArray()
"""The null array: *-1 in RESP2 and _ in RESP3 (EXEC aborted by WATCH)."""


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY: Final = _NoReply()
"""A command that answers nothing (SHUTDOWN closes the connection instead)."""


OK: Final = SimpleString(b"OK")
QUEUED: Final = SimpleString(b"QUEUED")
PONG: Final = SimpleString(b"PONG")

_BIG: Final = 16 * 1024  # above this a bulk payload is appended, not formatted (saves a copy)
_SHORT: Final = 1024  # below this a bulk's header comes from _REPLY_HEADERS (and requests' from _BULK_HEADERS)
_REPLY_HEADERS: Final = [b"$%d\r\n" % n for n in range(_SHORT)]
# integer replies and array headers below _SHORT, also from tables: a count, a 0 or a 1 is most
# of the integers a server sends (DEL, EXPIRE, HSET, ZADD, LPUSH...), and `%d` costs ~700
# instructions a reply
_INTEGER_REPLIES: Final = [b":%d\r\n" % n for n in range(_SHORT)]
_ARRAY_HEADERS: Final = [b"*%d\r\n" % n for n in range(_SHORT)]


def encode_into(value: Any, out: list[bytes], resp3: bool) -> None:
    """Append the RESP of ``value`` to ``out`` (``encode_reply`` without the wrapper: the
    connection's per-command path calls it directly)."""
    # dispatch on the exact type, most common first: bulk, nil, status, integer, array
    kind = type(value)
    if kind is bytes:
        size = len(value)
        if size < _SHORT:  # the header from a table: formatting costs more than the join's copy
            out += (_REPLY_HEADERS[size], value, b"\r\n")
        elif size < _BIG:
            out.append(b"$%d\r\n%b\r\n" % (size, value))
        else:
            out += (b"$%d\r\n" % size, value, b"\r\n")
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif kind is SimpleString:
        if value is OK:
            out.append(b"+OK\r\n")
        elif value is PONG:
            out.append(b"+PONG\r\n")
        elif value is QUEUED:
            out.append(b"+QUEUED\r\n")
        else:
            # ``13 in`` is a memchr; ``b"\r" in`` costs six times as much (a buffer export)
            if 13 in value or 10 in value:
                value = _one_line(value)
            out.append(b"+%b\r\n" % value)
    elif kind is int:
        number: int = value
        out.append(_INTEGER_REPLIES[number] if 0 <= number < _SHORT else b":%d\r\n" % number)
    elif kind is list or kind is SetReply or kind is PushReply:
        if not resp3 or kind is list:
            count = len(value)
            out.append(_ARRAY_HEADERS[count] if count < _SHORT else b"*%d\r\n" % count)
        else:
            out.append(b"%b%d\r\n" % (b"~" if kind is SetReply else b">", len(value)))
        for item in value:
            encode_into(item, out, resp3)
    elif kind is ErrorReply:
        if 13 in value or 10 in value:  # CR, LF
            value = _one_line(value)
        out.append(b"-%b\r\n" % value)
    elif kind is dict:
        out.append(b"%%%d\r\n" % len(value) if resp3 else b"*%d\r\n" % (2 * len(value)))
        for key, item in value.items():
            encode_into(key, out, resp3)
            encode_into(item, out, resp3)
    elif kind is float:
        if resp3:
            out.append(b",%b\r\n" % format_double(value))
        else:
            encode_into(format_double(value), out, resp3)
    elif kind is bool:
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif value is NullArray:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif kind is Verbatim:
        if resp3:
            out.append(b"=%d\r\ntxt:%b\r\n" % (len(value) + 4, value))
        else:
            encode_into(bytes(value), out, resp3)
    elif kind is str:
        encode_into(value.encode(), out, resp3)
    elif value is NO_REPLY:
        pass
    elif kind is memoryview or kind is Pushes:  # a reply the handler encoded itself
        out.append(value)
    else:
        raise TypeError(f"cannot encode {kind.__name__} as a RESP reply")


def _one_line(text: bytes) -> bytes:
    """A status or error text with CR and LF turned into spaces, as Redis does: a client's bytes
    echoed in an error must not end the line early and be read as further replies."""
    return text.replace(b"\r", b" ").replace(b"\n", b" ")


def encode_reply(value: object, resp3: bool = False, out: list[bytes] | None = None) -> bytes:
    """Encode one reply; with ``out`` the pieces are appended there and b"" is returned."""
    if out is not None:
        encode_into(value, out, resp3)
        return b""
    parts: list[bytes] = []
    encode_into(value, parts, resp3)
    return b"".join(parts)


def format_double(value: float) -> bytes:
    """Format a double as Redis 7.0's addReplyDouble does: %.17g, and inf / -inf / nan."""
    return b"%.17g" % value


def encode_command(*args: bytes | str | int | float) -> bytes:
    """Encode a command as a RESP multibulk (what a client sends)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bool):
            raise TypeError("bool is not a valid command argument")
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send {type(arg).__name__} as a command argument")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


# --- request parsing (server side) ---------------------------------------------------------------


_INT_MAX: Final = 2**31 - 1
_MAY_AUTHENTICATE: Final = frozenset((b"auth", b"hello"))
# the whole-frame fast path: the input it splits at a time, the count lines it knows, and the
# length lines of payloads shorter than _SHORT as a table (longer ones are formatted)
_WHOLE_FRAMES_MAX: Final = 64 * 1024
_COUNTS: Final = {b"*%d" % n: n for n in range(1, 1025)}
_BULK_HEADERS: Final = [b"$%d" % n for n in range(_SHORT)]
_LLONG_MIN: Final = -(2**63)


def _strict_int(text: bytes) -> int | None:
    """Redis's string2ll: optional '-', digits, no leading zeros, no spaces or '+'."""
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit() or (digits[0] == 48 and len(digits) > 1):  # 48 == ord("0")
        return None
    if text == b"-0":
        return None
    try:
        return int(text)
    except ValueError:  # more digits than int() accepts (4300): far beyond 64 bits anyway
        return None


@mypyc_attr(allow_interpreted_subclasses=True)
class InputBuffer:
    """What both parsers (requests here, replies in ``reply_parser``) keep of their input: the
    unparsed ``bytes`` and a read offset, and the reads behind it as chunks, joined only when
    ``_ready`` (the frame or element at the offset can have completed)."""

    __slots__ = ("_buf", "_chunks", "_chunks_len", "_need", "_pos", "_ready", "bytes_joined")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0  # where the unparsed input starts in _buf
        self._chunks: list[bytes] = []  # input received after _buf, not joined yet
        self._chunks_len = 0
        # False while the unparsed input can't be complete: it lacks ``_need`` bytes, or
        # (``_need`` 0) a line end. Then the chunks behind it wait unjoined, and only a read that
        # can complete it sets it back. Always True while the buffer is empty.
        self._ready = True
        self._need = 0
        self.bytes_joined = 0  # bytes copied to join reads (the work the tests bound)

    def _assemble(self) -> None:
        """Join the unparsed input and the chunks behind it into one buffer."""
        buf, pos = self._buf, self._pos
        parts: list[bytes | memoryview] = []
        if pos < len(buf):
            parts.append(memoryview(buf)[pos:] if pos else buf)
        parts += self._chunks
        self._buf = b"".join(parts)
        self.bytes_joined += len(self._buf)
        self._pos = 0
        self._chunks.clear()
        self._chunks_len = 0


class RequestParser(InputBuffer):
    """Client bytes in, argument vectors out: ``feed(data)``, then ``commands()``.

    After a protocol error ``error`` is set; the commands before the bad frame are still returned
    and nothing after it is. A multibulk cut by the end of the input keeps the arguments parsed so
    far and resumes at the cut, so a long command is parsed once however it is split. While
    ``auth_required`` is true the parser applies Redis's tighter unauthenticated limits and stops
    after an AUTH or HELLO, so that it takes effect before the next frame is judged.

    Every byte is copied a bounded number of times, however the input is cut: the unparsed input
    is a ``bytes`` object and a read offset (returning one command at a time moves the offset, it
    does not copy the rest), and what arrives while a frame is incomplete is kept as a list of
    chunks, joined only once the frame can have completed: when the bytes a bulk payload needs
    are all there, when a line end arrives for a frame waiting for one, or when the commands are
    wanted again (a client that was blocked). Input nobody asks for (a blocked client's) costs an
    append per read.
    """

    __slots__ = ("_args", "_keep", "_remaining", "auth_required", "error", "max_bulk_len")

    def __init__(self, max_bulk_len: int = PROTO_MAX_BULK_LEN, auth_required: bool = False) -> None:
        super().__init__()
        self._args: list[bytes] | None = None  # the multibulk being parsed, if cut short
        self._remaining = 0  # arguments that multibulk still lacks
        self._keep = 0  # where the unparsed input starts after an incomplete frame
        self.max_bulk_len = max_bulk_len
        self.auth_required = auth_required
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (Redis's qbuf)."""
        return len(self._buf) - self._pos + self._chunks_len

    def feed(self, data: bytes) -> int:
        """Take a read; return the bytes now buffered when they were added to earlier input (what
        the query-buffer limit is checked on), 0 when the read is all there is."""
        if self.error is not None:
            return 0
        if not self._buf:  # nothing pending (then _pos is 0 and there are no chunks)
            self._buf = data  # parse the read itself, no copy
            return 0  # a single read is far below the smallest query-buffer limit (1 MB)
        self._chunks.append(data)
        self._chunks_len += len(data)
        buffered = len(self._buf) - self._pos + self._chunks_len
        if not self._ready:
            if self._need:
                self._ready = buffered >= self._need
            else:  # waiting for a line end; past the inline limit the parser must see it to refuse it
                self._ready = 10 in data or 13 in data or buffered > PROTO_INLINE_MAX_SIZE
        return buffered

    def head(self, size: int) -> bytes:
        """The first ``size`` unparsed bytes (for the log line of a client that is closed)."""
        return b"".join([self._buf[self._pos : self._pos + size], *self._chunks[:size]])[:size]

    def commands(self) -> list[list[bytes]]:
        """Every complete command in the buffer; while ``auth_required``, up to an AUTH or HELLO."""
        out: list[list[bytes]] = []
        if self.error is not None or not self._ready:  # not ready: nothing can have completed
            return out
        if self._chunks:
            self._assemble()
        buf = self._buf
        pos = self._pos
        size = len(buf)
        one = self.auth_required
        split_to = pos  # the input up to here went through the fast path (each byte at most once)
        try:
            # while unauthenticated, stop after an AUTH or HELLO: the frames after it are judged
            # once we know whether it succeeded
            while pos < size and not (one and out and out[-1][0].lower() in _MAY_AUTHENTICATE):
                if self._args is None and buf[pos] == 42 and pos >= split_to:  # "*"
                    split_to = pos + _WHOLE_FRAMES_MAX
                    if split_to > size:  # (not min(): a builtin call costs more than this)
                        split_to = size
                    end = self._whole_frames(buf, pos, split_to, out)
                    if end > pos:
                        pos = end
                        continue
                if self._args is not None or buf[pos] == 42:
                    end = self._multibulk(buf, pos, size, out)
                else:
                    end = self._inline(buf, pos, out)
                if end < 0:
                    pos = self._keep
                    break
                pos = end
        except ProtocolError as exc:
            self.error = exc
            self._buf = b""
            self._pos = 0
            self._chunks.clear()
            self._chunks_len = 0
            self._args = None
            return out
        if pos >= size:
            self._buf = b""
            self._pos = 0
        else:
            self._pos = pos
        return out

    def _whole_frames(self, buf: bytes, pos: int, stop: int, out: list[list[bytes]]) -> int:
        """The fast path: the run of whole, canonical multibulks in ``buf[pos:stop]``, found by
        splitting that input at every CRLF once; returns where the run ends (``pos``: none).

        A frame is taken only if it is exactly ``*N`` CRLF, then N times ``$L`` CRLF, L bytes, CRLF,
        with canonical numbers within the limits: a payload that holds a CRLF, a count or length
        with a sign or a leading zero, a cut frame, an inline command, anything else ends the run
        there, and the careful path parses on from that frame (with Redis's errors). Such a frame
        is parsed alike by both, so which path took it never shows."""
        lines = (buf[pos:stop] if pos or stop < len(buf) else buf).split(b"\r\n")
        last = len(lines) - 1  # the piece after the last CRLF is not a line
        one = self.auth_required
        max_count = UNAUTH_MAX_MULTIBULK_LEN if one else PROTO_MAX_MULTIBULK_LEN
        max_bulk = UNAUTH_MAX_BULK_LEN if one else self.max_bulk_len
        counts = _COUNTS
        headers = _BULK_HEADERS
        i = 0
        while i < last:
            count = counts.get(lines[i])
            if count is None or count > max_count:
                break
            first = i + 1
            end = first + 2 * count
            if end > last:
                break
            k = first
            while k < end:  # (a while loop: range() would cost more than the check)
                size = len(lines[k + 1])
                if lines[k] != (headers[size] if size < _SHORT else b"$%d" % size) or size > max_bulk:
                    break
                k += 2
            else:
                args = lines[first + 1 : end : 2]
                out.append(args)
                i = end
                if one and args[0].lower() in _MAY_AUTHENTICATE:
                    break  # commands() stops here
                continue
            break
        if i == last:
            return stop - len(lines[last])
        return pos + sum(map(len, lines[:i])) + 2 * i

    def _wait_for_line(self) -> None:
        self._need = 0
        self._ready = False

    def _multibulk(self, buf: bytes, pos: int, size: int, out: list[list[bytes]]) -> int:
        """Parse (or resume) one multibulk at ``pos``; return its end, or -1 if incomplete."""
        p = pos
        args = self._args
        if args is None:
            nl = buf.find(b"\r", p)
            if nl < 0 or nl + 1 >= size:
                if size - p > PROTO_INLINE_MAX_SIZE:
                    raise ProtocolError("Protocol error: too big mbulk count string")
                if nl < 0:
                    self._wait_for_line()
                self._keep = p
                return -1
            count = _strict_int(buf[p + 1 : nl])
            if count is None or count > PROTO_MAX_MULTIBULK_LEN:
                # Redis's order: beyond INT_MAX (or not a number) first, then the AUTH limit
                if count is not None and count <= _INT_MAX and self.auth_required:
                    raise ProtocolError("Protocol error: unauthenticated multibulk length")
                raise ProtocolError("Protocol error: invalid multibulk length")
            if count > UNAUTH_MAX_MULTIBULK_LEN and self.auth_required:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            p = nl + 2
            if count <= 0:  # "*0" and "*-1" are empty commands, skipped as Redis does
                if count < _LLONG_MIN:
                    raise ProtocolError("Protocol error: invalid multibulk length")
                return p
            args = self._args = []
            self._remaining = count
        append = args.append
        max_bulk = UNAUTH_MAX_BULK_LEN if self.auth_required else self.max_bulk_len
        remaining = self._remaining
        while remaining:
            nl = buf.find(b"\r", p)
            if nl < 0 or nl + 1 >= size:
                if size - p > PROTO_INLINE_MAX_SIZE:
                    raise ProtocolError("Protocol error: too big bulk count string")
                if nl < 0 and p < size:  # (at the very end the buffer is dropped: no wait)
                    self._wait_for_line()
                break
            if buf[p] != 36:  # "$"
                raise ProtocolError(f"Protocol error: expected '$', got '{chr(buf[p])}'")
            len_text = buf[p + 1 : nl]
            if len_text.isdigit() and (len_text[0] != 48 or len(len_text) == 1):
                try:
                    length = int(len_text)
                except ValueError:  # beyond int()'s 4300 digits (the try costs nothing otherwise)
                    raise ProtocolError("Protocol error: invalid bulk length") from None
            else:
                raise ProtocolError("Protocol error: invalid bulk length")
            if length > max_bulk:
                if self.auth_required and length <= self.max_bulk_len:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                raise ProtocolError("Protocol error: invalid bulk length")
            start = nl + 2
            end = start + length
            if end + 2 > size:
                self._need = end + 2 - p
                self._ready = False
                break
            append(buf[start:end])
            p = end + 2  # like Redis, the two bytes after a payload are skipped unchecked
            remaining -= 1
        if remaining:
            self._remaining = remaining
            self._keep = p
            return -1
        self._args = None
        out.append(args)
        return p

    def _inline(self, buf: bytes, pos: int, out: list[list[bytes]]) -> int:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("Protocol error: too big inline request")
            self._wait_for_line()
            self._keep = pos
            return -1
        line_end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        args = split_args(buf[pos:line_end])
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        if args:
            out.append(args)
        return nl + 1


_SPACE: Final = frozenset(b" \n\r\t\v\f\x00")
_ESCAPES: Final = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command like Redis's sdssplitargs; None on unbalanced quotes."""
    if 34 not in line and 39 not in line and 0 not in line:  # no quotes, no NUL: whitespace runs
        return line.split()  # bytes.split() splits on exactly C's isspace() set
    return _split_quoted(line)


def _split_quoted(line: bytes) -> list[bytes] | None:
    """sdssplitargs character by character: quotes, escapes, \\xHH."""
    args: list[bytes] = []
    i = 0
    n = len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            if in_double:
                if i >= n:
                    return None
                c = line[i]
                if (
                    c == 92  # backslash
                    and i + 3 < n
                    and line[i + 1] == 120  # "x"
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:  # closing quote must be followed by a space or the end
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            elif in_single:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _SPACE:
                    break
                if c == 34:
                    in_double = True
                elif c == 39:
                    in_single = True
                else:
                    current.append(c)
            i += 1
        args.append(bytes(current))
