"""The sans-IO codec: bytes in, commands and replies out. No sockets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kvserver.protocol import (
    NEED_DATA,
    NO_REPLY,
    QUEUED,
    ErrorReply,
    NullArray,
    ProtocolError,
    PushReply,
    RequestParser,
    SetReply,
    SimpleString,
    Verbatim,
    _split_quoted,
    encode_command,
    encode_reply,
    split_args,
)
from kvserver.reply_parser import ReplyParser
from tests.support import read_all


def parse(data: bytes, **kwargs: object) -> tuple[list[list[bytes]], ProtocolError | None]:
    parser = RequestParser(**kwargs)  # type: ignore[arg-type]
    parser.feed(data)
    commands = parser.commands()
    return commands, parser.error


# --- requests ------------------------------------------------------------------------------------


def test_multibulk_and_pipelined_commands_parse_in_one_pass() -> None:
    data = encode_command("SET", "k", "v") + encode_command("GET", "k")
    assert parse(data) == ([[b"SET", b"k", b"v"], [b"GET", b"k"]], None)


def test_binary_safe_arguments() -> None:
    payload = bytes(range(256)) + b"\r\n\x00"
    assert parse(encode_command(b"SET", b"k\r\n", payload))[0] == [[b"SET", b"k\r\n", payload]]


def test_inline_commands_split_like_redis() -> None:
    assert parse(b"PING\r\n")[0] == [[b"PING"]]
    assert parse(b"set a   b\n")[0] == [[b"set", b"a", b"b"]]
    assert parse(b'echo "a\\x41\\n b"\r\n')[0] == [[b"echo", b"aA\n b"]]
    assert parse(b"set 'it\\'s' x\r\n")[0] == [[b"set", b"it's", b"x"]]
    assert parse(b"\r\n\r\nPING\r\n")[0] == [[b"PING"]]  # empty lines are skipped


def test_split_args_edge_cases() -> None:
    assert split_args(b"") == []
    assert split_args(b'"unterminated') is None
    assert split_args(b'"a"b') is None  # a closing quote must be followed by a space
    assert split_args(b'a"b c"') == [b"ab c"]
    assert split_args(b"'x'") == [b"x"]


_INLINE_BYTES = b" \t\r\n\x0b\x0c\x00ab\"'\\x1"  # what changes how a line splits


@given(st.binary(max_size=40).map(lambda b: bytes(_INLINE_BYTES[c % len(_INLINE_BYTES)] for c in b)))
def test_the_unquoted_fast_split_agrees_with_the_full_one(line: bytes) -> None:
    assert split_args(line) == _split_quoted(line)


def test_empty_multibulks_are_skipped() -> None:
    assert parse(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n") == ([[b"PING"]], None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*x\r\n", "Protocol error: invalid multibulk length"),
        (b"*01\r\n$4\r\nPING\r\n", "Protocol error: invalid multibulk length"),
        (b"*3000000000\r\n", "Protocol error: invalid multibulk length"),
        (b"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$01\r\nx\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$600000000\r\n", "Protocol error: invalid bulk length"),
        (b'set a "b\r\n', "Protocol error: unbalanced quotes in request"),
        (b"x" * (64 * 1024 + 1), "Protocol error: too big inline request"),
        (b"*" + b"1" * (64 * 1024 + 1), "Protocol error: too big mbulk count string"),
        (b"*1\r\n$" + b"1" * (64 * 1024 + 1), "Protocol error: too big bulk count string"),
    ],
)
def test_protocol_errors_use_redis_texts(data: bytes, message: str) -> None:
    commands, error = parse(data)
    assert commands == []
    assert error is not None
    assert str(error) == message


def test_commands_before_a_protocol_error_are_still_returned() -> None:
    commands, error = parse(encode_command("PING") + b"*1\r\n$x\r\n" + encode_command("PING"))
    assert commands == [[b"PING"]]
    assert str(error) == "Protocol error: invalid bulk length"


def test_configured_bulk_limit() -> None:
    assert str(parse(encode_command("SET", "k", "x" * 11), max_bulk_len=10)[1]) == "Protocol error: invalid bulk length"
    assert parse(encode_command("SET", "k", "x" * 10), max_bulk_len=10)[1] is None


def test_unauthenticated_limits_and_one_command_per_call() -> None:
    parser = RequestParser(auth_required=True)
    parser.feed(encode_command("AUTH", "pw") + encode_command("PING"))
    assert parser.commands() == [[b"AUTH", b"pw"]]
    assert parser.commands() == [[b"PING"]]
    assert str(parse(encode_command(*["x"] * 11), auth_required=True)[1]) == (
        "Protocol error: unauthenticated multibulk length"
    )
    assert str(parse(encode_command("SET", "k", "x" * 16385), auth_required=True)[1]) == (
        "Protocol error: unauthenticated bulk length"
    )


def test_incomplete_frames_wait_for_more_data() -> None:
    parser = RequestParser()
    for piece in (b"*2\r", b"\n$3\r\nGET\r\n$1", b"\r\nk", b"\r\n"):
        assert parser.commands() == []
        parser.feed(piece)
    assert parser.commands() == [[b"GET", b"k"]]
    assert parser.buffered == 0


def test_large_value_is_collected_without_reparsing() -> None:
    value = b"v" * (1 << 20)
    data = encode_command(b"SET", b"k", value)
    parser = RequestParser()
    calls = 0
    for start in range(0, len(data), 4096):
        parser.feed(data[start : start + 4096])
        calls += 1
        commands = parser.commands()
        if commands:
            assert commands == [[b"SET", b"k", value]]
            break
    assert calls == len(range(0, len(data), 4096))


@given(
    commands=st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=5), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_any_split_of_the_input_gives_the_same_commands(commands: list[list[bytes]], cuts: list[int]) -> None:
    data = b"".join(encode_command(*argv) for argv in commands)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    parser = RequestParser()
    seen: list[list[bytes]] = []
    for start, end in itertools.pairwise(points):
        parser.feed(data[start:end])
        seen += parser.commands()
    assert parser.error is None
    assert seen == commands


# Frames well-formed or not: each count and length is right or replaced by a text Redis refuses or
# reads differently (leading zeros, signs, too many digits, over a limit); a payload may be cut
_BAD_LENGTHS = [b"0", b"-1", b"", b"x", b"+3", b"12345678901", b"1048577", b"17000", b"9"]


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    args = draw(st.lists(st.sampled_from([b"foo", b"", b"AUTH", b"hello", b"a" * 7]), min_size=1, max_size=12))
    count = b"%d" % len(args)
    if draw(st.integers(0, 3)) == 0:
        count = draw(st.sampled_from([b"0" + count, *_BAD_LENGTHS]))
    parts = [b"*%b\r\n" % count]
    for arg in args:
        length = b"%d" % len(arg)
        if draw(st.integers(0, 7)) == 0:
            length = draw(st.sampled_from([b"0" + length, *_BAD_LENGTHS]))
        parts.append(b"$%b\r\n%b\r\n" % (length, arg))
    frame = b"".join(parts)
    return frame[: draw(st.integers(0, len(frame)))] if draw(st.integers(0, 5)) == 0 else frame


@given(
    frames=st.lists(_frame() | st.sampled_from([b"PING\r\n", b"x y\r\n", b"\r\n"]), min_size=1, max_size=5),
    auth_required=st.booleans(),
    max_bulk_len=st.sampled_from([5, 512 * 1024 * 1024]),
)
@example(frames=[b"*1\r\n$3\r\nfoo"], auth_required=False, max_bulk_len=5)  # its CRLF not read yet
@example(frames=[b"*1\r\n$03\r\nfoo\r\n"], auth_required=False, max_bulk_len=5)  # a leading zero
@example(frames=[b"*01\r\n$3\r\nfoo\r\n"], auth_required=False, max_bulk_len=5)
@example(frames=[b"*1\r\n$7\r\naaaaaaa\r\n"], auth_required=False, max_bulk_len=5)  # over the limit
@example(frames=[b"*11\r\n" + b"$1\r\na\r\n" * 11], auth_required=True, max_bulk_len=5)
@example(frames=[b"*1\r\n$4\r\nAUTH\r\n*1\r\n$3\r\nfoo\r\n"], auth_required=True, max_bulk_len=5)
def test_the_whole_frame_fast_path_agrees_with_the_careful_parser(
    frames: list[bytes], auth_required: bool, max_bulk_len: int
) -> None:
    data = b"".join(frames)
    parser = RequestParser(max_bulk_len, auth_required)
    parser.feed(data)
    whole: list[list[bytes]] = []
    while more := parser.commands():  # it stops after each AUTH while unauthenticated: ask again
        whole += more
    # byte by byte, every frame arrives cut short: the careful path parses each one
    careful = RequestParser(max_bulk_len, auth_required)
    seen: list[list[bytes]] = []
    for i in range(len(data)):
        careful.feed(data[i : i + 1])
        seen += careful.commands()
    while more := careful.commands():
        seen += more
    assert whole == seen
    assert str(parser.error) == str(careful.error)


def test_input_longer_than_the_fast_paths_window_parses_whole() -> None:
    # 64 KB at a time go through the split: the window's end falls inside a frame, at every place
    # of it (and between two) as ``shift`` moves it; a payload holding CRLFs and an inline command
    # come later
    for shift in range(len(encode_command(b"SET", b"key:100", b"v" * 200)) + 1):
        commands = [[b"SET", b"k" * (1 + shift), b"v" * 200]]
        commands += [[b"SET", b"key:%d" % i, b"v" * 200] for i in range(300, 600)]
        commands += [[b"SET", b"binary", b"a\r\n$1\r\nb" * 50], [b"PING"], *([[b"GET", b"x"]] * 300)]
        data = b"".join(encode_command(*argv) for argv in commands[:-301]) + b"PING\r\n"
        data += b"".join(encode_command(*argv) for argv in commands[-300:])
        assert len(data) > 64 * 1024
        parsed, error = parse(data)
        assert error is None
        assert parsed == commands, shift


@pytest.mark.parametrize("auth_required", [False, True], ids=["authenticated", "unauthenticated"])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*" + b"1" * 5000 + b"\r\n", "Protocol error: invalid multibulk length"),
        (b"*-" + b"1" * 5000 + b"\r\n", "Protocol error: invalid multibulk length"),
        (b"*1\r\n$" + b"1" * 5000 + b"\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$" + b"9" * 21 + b"\r\n", "Protocol error: invalid bulk length"),
        (b"*" + b"9" * 20 + b"\r\n", "Protocol error: invalid multibulk length"),
    ],
    ids=[
        "multibulk-5000-digits",
        "negative-multibulk-5000-digits",
        "bulk-5000-digits",
        "bulk-21-digits",
        "multibulk-20-digits",
    ],
)
def test_huge_length_texts_are_protocol_errors(data: bytes, message: str, auth_required: bool) -> None:
    # int() refuses more than 4300 digits with a ValueError; the parser must judge the text first
    commands, error = parse(data, auth_required=auth_required)
    assert commands == []
    assert str(error) == message


def test_unauthenticated_multibulk_beyond_our_own_cap_gets_redis_text() -> None:
    # Redis checks the count against INT_MAX, then against 10 before AUTH
    assert str(parse(b"*2000000\r\n", auth_required=True)[1]) == "Protocol error: unauthenticated multibulk length"


def pipelined_sets(count: int) -> bytes:
    return b"".join(encode_command(b"SET", b"key:%d" % i, b"v" * 20) for i in range(count))


def test_input_buffered_while_nobody_asks_is_joined_once() -> None:
    # a blocked client: reads keep arriving, commands() isn't called until it is unblocked
    data = pipelined_sets(20_000)
    parser = RequestParser()
    parser.feed(encode_command("BLPOP", "x", "0"))
    assert parser.commands() == [[b"BLPOP", b"x", b"0"]]
    for start in range(0, len(data), 100):
        parser.feed(data[start : start + 100])
    assert parser.buffered == len(data)
    commands = parser.commands()
    assert len(commands) == 20_000
    assert commands[-1] == [b"SET", b"key:19999", b"v" * 20]
    assert parser.bytes_joined == len(data)  # each byte copied once, not once per read


def test_a_line_arriving_byte_by_byte_is_joined_once() -> None:
    line = b"SET k " + b"x" * 60_000 + b"\r\n"
    parser = RequestParser()
    for i in range(len(line)):
        parser.feed(line[i : i + 1])
        commands = parser.commands()
    assert commands == [[b"SET", b"k", b"x" * 60_000]]
    assert parser.bytes_joined <= 2 * len(line)  # the CR, then the LF: not once per byte


def test_a_header_arriving_byte_by_byte_still_hits_the_inline_limit() -> None:
    parser = RequestParser()
    data = b"*1\r\n$" + b"1" * (64 * 1024 + 1)
    for i in range(0, len(data), 1000):
        parser.feed(data[i : i + 1000])
        parser.commands()
    assert str(parser.error) == "Protocol error: too big bulk count string"


def test_unauthenticated_commands_stop_at_each_auth_without_copying() -> None:
    data = b"PING\r\n" * 10_000 + (encode_command("AUTH", "pw") + b"hello 3\r\n") * 5 + b"PING\r\n"
    parser = RequestParser(auth_required=True)
    parser.feed(data[:30_000])
    parser.feed(data[30_000:])
    batches = []
    while commands := parser.commands():
        batches.append(commands)
    assert len(batches[0]) == 10_001  # the pings and the first AUTH: one call, not one per command
    assert [len(batch) for batch in batches[1:]] == [1] * 9 + [1]
    assert batches[-1] == [[b"PING"]]
    assert parser.buffered == 0
    assert parser.bytes_joined == len(data)  # one join of the two reads; each command is a slice


def test_head_shows_the_first_unparsed_bytes() -> None:
    parser = RequestParser()
    parser.feed(b"*1\r\n$4\r\nPI")
    parser.commands()
    parser.feed(b"NG")
    assert parser.head(64) == b"$4\r\nPING"  # the header is consumed, as in Redis's querybuf
    assert parser.head(3) == b"$4\r"


# --- replies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (b"hi", b"$2\r\nhi\r\n", b"$2\r\nhi\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (SimpleString(b"OK"), b"+OK\r\n", b"+OK\r\n"),
        (ErrorReply(b"ERR x"), b"-ERR x\r\n", b"-ERR x\r\n"),
        (-7, b":-7\r\n", b":-7\r\n"),
        # integers and array lengths below 1024 come from tables, the rest are formatted
        (1023, b":1023\r\n", b":1023\r\n"),
        (1024, b":1024\r\n", b":1024\r\n"),
        (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
        ([0] * 1023, b"*1023\r\n" + b":0\r\n" * 1023, b"*1023\r\n" + b":0\r\n" * 1023),
        ([0] * 1024, b"*1024\r\n" + b":0\r\n" * 1024, b"*1024\r\n" + b":0\r\n" * 1024),
        (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
        ([b"a", 1], b"*2\r\n$1\r\na\r\n:1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"),
        ({b"k": 1}, b"*2\r\n$1\r\nk\r\n:1\r\n", b"%1\r\n$1\r\nk\r\n:1\r\n"),
        (SetReply([b"a"]), b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
        (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
        (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (NullArray, b"*-1\r\n", b"_\r\n"),
        (Verbatim(b"a:b"), b"$3\r\na:b\r\n", b"=7\r\ntxt:a:b\r\n"),
        (NO_REPLY, b"", b""),
    ],
)
def test_reply_encoding_in_both_protocols(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode_reply(value, resp3=False) == resp2
    assert encode_reply(value, resp3=True) == resp3


@pytest.mark.parametrize("resp3", [False, True])
def test_cr_and_lf_in_status_and_error_texts_become_spaces(resp3: bool) -> None:
    # a client's bytes echoed in an error must not end the line and read as more replies
    assert encode_reply(ErrorReply(b"ERR Unsupported option x\r\n+OK\r\n:666"), resp3) == (
        b"-ERR Unsupported option x  +OK  :666\r\n"
    )
    assert encode_reply(SimpleString(b"a\nb\rc"), resp3) == b"+a b c\r\n"
    assert encode_reply([ErrorReply(b"E\r\n"), SimpleString(b"\n")], resp3) == b"*2\r\n-E  \r\n+ \r\n"


@given(text=st.binary(max_size=50), resp3=st.booleans(), status=st.booleans())
def test_any_status_or_error_text_is_exactly_one_reply(text: bytes, resp3: bool, status: bool) -> None:
    value = SimpleString(text) if status else ErrorReply(text)
    encoded = encode_reply([value, 7], resp3)
    parsed = read_all(encoded)
    assert len(parsed) == 1
    assert parsed[0] == [text.replace(b"\r", b" ").replace(b"\n", b" "), 7]


def test_large_bulk_reply_is_not_copied_into_the_header() -> None:
    value = b"x" * 100_000
    out: list[bytes] = []
    encode_reply(value, False, out)
    assert out[1] is value
    assert b"".join(out) == b"$100000\r\n" + value + b"\r\n"


def test_unknown_reply_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode_reply(object())


def test_encode_command_rejects_bool() -> None:
    with pytest.raises(TypeError):
        encode_command("SET", "k", True)
    assert encode_command("INCRBY", "k", 5) == b"*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$1\r\n5\r\n"


def test_reply_parser_reads_every_resp3_type() -> None:
    data = (
        b"+OK\r\n-ERR bad\r\n:5\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n:2\r\n*-1\r\n_\r\n,1.5\r\n,inf\r\n"
        b"#t\r\n=7\r\ntxt:hey\r\n(123\r\n%1\r\n+k\r\n:1\r\n~1\r\n:9\r\n>2\r\n+a\r\n+b\r\n"
        b"|1\r\n+ttl\r\n:3\r\n+decorated\r\n!5\r\nERR x\r\n"
    )
    assert read_all(data) == [
        b"OK",
        ErrorReply(b"ERR bad"),
        5,
        b"abc",
        None,
        [1, 2],
        None,
        None,
        1.5,
        float("inf"),
        True,
        b"hey",
        123,
        {b"k": 1},
        [9],
        [b"a", b"b"],
        b"decorated",
        b"ERR x",
    ]
    values = read_all(b"~1\r\n:9\r\n>1\r\n:1\r\n")
    assert isinstance(values[0], SetReply)
    assert isinstance(values[1], PushReply)


@given(cut=st.integers(min_value=0, max_value=60))
def test_reply_parser_waits_for_partial_frames(cut: int) -> None:
    data = b"*3\r\n$5\r\nhello\r\n%1\r\n+a\r\n:1\r\n,2.5\r\n"
    parser = ReplyParser()
    parser.feed(data[:cut])
    first = parser.next()
    if cut < len(data):
        assert first is NEED_DATA
        parser.feed(data[cut:])
        first = parser.next()
    assert first == [b"hello", {b"a": 1}, 2.5]


def test_request_round_trip_through_reply_parser() -> None:
    # a command is an array of bulk strings: the client-side parser reads it back unchanged
    assert read_all(encode_command("SET", b"\x00k", "v")) == [[b"SET", b"\x00k", b"v"]]


# --- the reply parser is linear in its input -------------------------------------------------------

_scalars = st.one_of(
    st.binary(max_size=30),
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=10).map(lambda b: SimpleString(b.replace(b"\r", b"").replace(b"\n", b""))),
    st.binary(max_size=10).map(lambda b: ErrorReply(b.replace(b"\r", b"").replace(b"\n", b""))),
    st.booleans(),
    st.floats(allow_nan=False),
)
_replies = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(SetReply),
        st.dictionaries(st.binary(max_size=5), children, max_size=4),
    ),
    max_leaves=30,
)


@pytest.mark.slow
@given(values=st.lists(_replies, min_size=1, max_size=4), cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_reply_parser_gives_the_same_values_however_the_input_is_cut(values: list[object], cuts: list[int]) -> None:
    data = b"".join(encode_reply(value, resp3=True) for value in values)
    whole = read_all(data)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    parser = ReplyParser()
    seen: list[object] = []
    for start, end in itertools.pairwise(points):
        parser.feed(data[start:end])
        while (value := parser.next()) is not NEED_DATA:
            seen.append(value)
    assert seen == whole
    assert len(whole) == len(values)


@pytest.mark.parametrize("count", [20_000, 80_000])
def test_a_large_reply_read_in_small_pieces_is_copied_once(count: int) -> None:
    # the parser used to start over on every read: 4x the elements took 9x the time
    data = encode_reply([b"member:%d" % i for i in range(count)] + [b"x" * 100_000])
    parser = ReplyParser()
    values = []
    for start in range(0, len(data), 4096):
        parser.feed(data[start : start + 4096])
        while (reply := parser.next()) is not NEED_DATA:
            values.append(reply)
    assert len(values) == 1
    value = values[0]
    assert isinstance(value, list)
    assert len(value) == count + 1
    assert value[count - 1] == b"member:%d" % (count - 1)
    # only the element cut by a read is carried into the next one: far below one copy per read
    assert parser.bytes_joined <= 2 * len(data)
