"""Commands through Database.execute with an injected clock: semantics and canonical log records."""

from __future__ import annotations

import pytest

from kvserver.commands import TABLE
from kvserver.commands.registry import CommandSpec, Context
from kvserver.config import Config
from kvserver.database import Database
from kvserver.memory import MemoryMeter
from kvserver.protocol import ErrorReply, NullArray
from kvserver.state import ClientState
from tests.support import NOW, Harness, RecordingLog, array, err


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_set_with_relative_expiry_is_logged_with_an_absolute_deadline(h: Harness) -> None:
    assert h("SET", "k", "v", "EX", "10") == b"OK"
    assert h("SET", "p", "v", "PX", "1500") == b"OK"
    assert h("SET", "plain", "v") == b"OK"
    assert h.records() == [
        [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW + 10_000)],
        [b"SET", b"p", b"v", b"PXAT", b"%d" % (NOW + 1500)],
        [b"SET", b"plain", b"v"],
    ]


def test_set_options_are_order_free_with_redis_conflict_rules(h: Harness) -> None:
    assert h("SET", "k", "v", "NX", "EX", "5") == b"OK"
    assert h("SET", "k", "w", "EX", "5", "NX") is None
    assert h("SET", "k", "w", "GET", "XX", "PX", "100") == b"v"
    assert h("PTTL", "k") == 100
    assert h("SET", "k", "z", "KEEPTTL") == b"OK"
    assert h("PTTL", "k") == 100
    assert h("SET", "k", "v", "NX", "XX") == err("ERR syntax error")
    assert h("SET", "k", "v", "EX", "1", "PX", "1") == err("ERR syntax error")
    assert h("SET", "k", "v", "KEEPTTL", "EX", "1") == err("ERR syntax error")
    assert h("SET", "k", "v", "EX") == err("ERR syntax error")
    assert h("SET", "k", "v", "EX", "0") == err("ERR invalid expire time in 'set' command")
    assert h("SET", "k", "v", "EX", "x") == err("ERR value is not an integer or out of range")
    assert h("SET", "k", "v", "EX", "9223372036854775807") == err("ERR invalid expire time in 'set' command")
    assert h("SET", "k", "v", "EX", "1", "EX", "2") == b"OK"  # the same option may repeat
    assert h("TTL", "k") == 2


def test_set_get_on_wrong_type_aborts(h: Harness) -> None:
    h.db.keyspace.set(b"c", {b"f": b"v"})  # any non-string value
    assert h("SET", "c", "v", "GET") == err("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert h("GET", "c") == err("WRONGTYPE Operation against a key holding the wrong kind of value")


def test_set_variants(h: Harness) -> None:
    assert h("SETNX", "a", "1") == 1
    assert h("SETNX", "a", "2") == 0
    assert h("SETEX", "b", "10", "v") == b"OK"
    assert h("SETEX", "b", "0", "v") == err("ERR invalid expire time in 'setex' command")
    assert h("PSETEX", "c", "500", "v") == b"OK"
    assert h("PTTL", "c") == 500
    assert h("GETSET", "a", "3") == b"1"
    assert h("GETDEL", "a") == b"3"
    assert h("GETDEL", "a") is None


def test_getex_logs_pexpireat_or_persist(h: Harness) -> None:
    h("SET", "k", "v")
    assert h("GETEX", "k", "EX", "100") == b"v"
    assert h("GETEX", "k", "PERSIST") == b"v"
    assert h("GETEX", "k", "PXAT", str(NOW - 1)) == b"v"
    assert h("GET", "k") is None
    assert h("GETEX", "k", "NX") == err("ERR syntax error")
    assert h.records()[1:] == [
        [b"PEXPIREAT", b"k", b"%d" % (NOW + 100_000)],
        [b"PERSIST", b"k"],
        [b"DEL", b"k"],
    ]


def test_expire_family_and_ttl(h: Harness) -> None:
    h("SET", "k", "v")
    assert h("TTL", "k") == -1
    assert h("TTL", "nope") == -2
    assert h("EXPIRE", "k", "100", "XX") == 0
    assert h("EXPIRE", "k", "100", "NX") == 1
    assert h("EXPIRE", "k", "50", "GT") == 0
    assert h("EXPIRE", "k", "200", "GT") == 1
    assert h("PEXPIRE", "k", "1000", "LT") == 1
    assert h("PTTL", "k") == 1000
    assert h("EXPIRETIME", "k") == (NOW + 1000) // 1000
    assert h("PEXPIRETIME", "k") == NOW + 1000
    assert h("EXPIRE", "k", "1", "NX", "XX") == err(
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    )
    assert h("EXPIRE", "k", "1", "GT", "LT") == err("ERR GT and LT options at the same time are not compatible")
    assert h("EXPIRE", "k", "1", "FOO") == err("ERR Unsupported option FOO")
    assert h("PERSIST", "k") == 1
    assert h("PERSIST", "k") == 0
    assert h("EXPIREAT", "k", str(NOW // 1000 - 1)) == 1  # in the past: deleted and logged as DEL
    assert h("EXISTS", "k") == 0
    assert h.records()[-1] == [b"DEL", b"k"]
    assert [r[0] for r in h.records()[1:5]] == [b"PEXPIREAT"] * 3 + [b"PERSIST"]


def test_ttl_rounds_like_redis(h: Harness) -> None:
    h("SET", "k", "v", "PX", "1499")
    assert h("TTL", "k") == 1
    h("SET", "k", "v", "PX", "1500")
    assert h("TTL", "k") == 2


def test_lazy_expiry_logs_a_del_before_the_command_that_saw_it(h: Harness) -> None:
    h("SET", "k", "v", "PX", "10")
    h.clock.now += 10
    assert h("APPEND", "k", "x") == 1
    assert h.records()[1:] == [[b"DEL", b"k"], [b"APPEND", b"k", b"x"]]
    assert h("TTL", "k") == -1
    assert h.db.stats.expired_keys == 1


def test_integer_commands(h: Harness) -> None:
    assert h("INCR", "n") == 1
    assert h("INCRBY", "n", "41") == 42
    assert h("DECRBY", "n", "2") == 40
    assert h("DECR", "n") == 39
    h("SET", "big", "9223372036854775807")
    assert h("INCR", "big") == err("ERR increment or decrement would overflow")
    h("SET", "s", "abc")
    assert h("INCR", "s") == err("ERR value is not an integer or out of range")
    h("SET", "sp", " 1")
    assert h("INCR", "sp") == err("ERR value is not an integer or out of range")
    assert h("DECRBY", "n", "-9223372036854775808") == err("ERR decrement would overflow")


def test_incr_keeps_the_ttl(h: Harness) -> None:
    h("SET", "n", "1", "EX", "100")
    h("INCR", "n")
    assert h("TTL", "n") == 100


def test_incrbyfloat_formats_and_logs_the_result(h: Harness) -> None:
    assert h("INCRBYFLOAT", "f", "10.5") == b"10.5"
    assert h("INCRBYFLOAT", "f", "0.1") == b"10.6"
    assert h("INCRBYFLOAT", "f", "-5") == b"5.6"
    assert h("INCRBYFLOAT", "f", "5.0e3") == b"5005.60000000000000009"  # Redis's long double sum
    assert h("INCRBYFLOAT", "f", "abc") == err("ERR value is not a valid float")
    assert h("INCRBYFLOAT", "f", "inf") == err("ERR increment would produce NaN or Infinity")
    assert h.records()[1] == [b"SET", b"f", b"10.6", b"KEEPTTL"]


def test_string_range_commands(h: Harness) -> None:
    h("SET", "s", "Hello World")
    assert h("GETRANGE", "s", "0", "4") == b"Hello"
    assert h("GETRANGE", "s", "-5", "-1") == b"World"
    assert h("GETRANGE", "s", "5", "1") == b""
    assert h("GETRANGE", "s", "-1", "-5") == b""
    assert h("GETRANGE", "nope", "0", "1") == b""
    assert h("SETRANGE", "s", "6", "Redis") == 11
    assert h("GET", "s") == b"Hello Redis"
    assert h("SETRANGE", "z", "3", "x") == 4
    assert h("GET", "z") == b"\x00\x00\x00x"
    assert h("SETRANGE", "z", "-1", "x") == err("ERR offset is out of range")
    assert h("SETRANGE", "empty", "5", "") == 0
    assert h("EXISTS", "empty") == 0
    assert h("APPEND", "s", "!") == 12
    assert h("STRLEN", "s") == 12


def test_multi_key_string_commands(h: Harness) -> None:
    assert h("MSET", "a", "1", "b", "2") == b"OK"
    assert h("MSET", "a", "1", "b") == err("ERR wrong number of arguments for 'mset' command")
    assert h("MGET", "a", "b", "c") == [b"1", b"2", None]
    assert h("MSETNX", "c", "3", "a", "x") == 0
    assert h("MSETNX", "c", "3", "d", "4") == 1
    assert h("DEL", "a", "b", "nope") == 2
    assert h("EXISTS", "c", "c", "d") == 3


def test_rename_copy_and_type(h: Harness) -> None:
    h("SET", "a", "1", "EX", "100")
    assert h("RENAME", "a", "b") == b"OK"
    assert h("TTL", "b") == 100
    assert h("RENAME", "a", "b") == err("ERR no such key")
    assert h("RENAMENX", "b", "b") == 0
    h("SET", "c", "x")
    assert h("RENAMENX", "b", "c") == 0
    assert h("COPY", "b", "c") == 0
    assert h("COPY", "b", "c", "REPLACE") == 1
    assert h("GET", "c") == b"1"
    assert h("TTL", "c") == 100
    assert h("COPY", "b", "b") == err("ERR source and destination objects are the same")
    assert h("COPY", "b", "d", "DB", "16") == err("ERR DB index is out of range")
    assert h("TYPE", "c") == b"string"
    assert h("TYPE", "nope") == b"none"


def test_keys_and_scan(h: Harness) -> None:
    for name in ("user:1", "user:2", "session:1", "other"):
        h("SET", name, "v")
    assert sorted(array(h("KEYS", "user:*"))) == [b"user:1", b"user:2"]
    assert sorted(array(h("KEYS", "*:[12]"))) == [b"session:1", b"user:1", b"user:2"]
    seen: set[bytes] = set()
    cursor = b"0"
    while True:
        reply = h("SCAN", cursor, "COUNT", "2", "MATCH", "*:*")
        assert isinstance(reply, list)
        cursor, keys = reply
        seen.update(keys)
        if cursor == b"0":
            break
    assert seen == {b"user:1", b"user:2", b"session:1"}
    assert h("SCAN", "0", "TYPE", "hash") == [b"0", []]
    assert h("SCAN", "x") == err("ERR invalid cursor")
    assert h("SCAN", "0", "COUNT", "0") == err("ERR syntax error")
    assert h("SCAN", "0", "FOO", "1") == err("ERR syntax error")


def test_flushall_logs_and_dbsize(h: Harness) -> None:
    h("SET", "a", "1")
    assert h("DBSIZE") == 1
    assert h("FLUSHALL", "ASYNC") == b"OK"
    assert h("FLUSHDB", "FOO") == err("ERR syntax error")
    assert h("DBSIZE") == 0
    assert h.records()[-1] == [b"FLUSHALL"]


def test_unknown_command_and_arity_errors(h: Harness) -> None:
    assert h("FOO", "a", "b") == err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
    assert h("GET") == err("ERR wrong number of arguments for 'get' command")
    assert h("CONFIG") == err("ERR wrong number of arguments for 'config' command")
    assert h("CONFIG", "GET") == err("ERR wrong number of arguments for 'config|get' command")
    assert h("CLIENT", "FOO") == err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    long_arg = "x" * 200
    reply = h("NOPE", long_arg)
    assert isinstance(reply, ErrorReply)
    assert len(reply) < 200 + 80


def test_transaction_runs_as_one_log_unit(h: Harness) -> None:
    assert h("MULTI") == b"OK"
    assert h("SET", "a", "1") == b"QUEUED"
    assert h("INCR", "a") == b"QUEUED"
    assert h("GET", "a") == b"QUEUED"
    assert h("EXEC") == [b"OK", 2, b"2"]
    assert h.log.units[-1] == [[b"SET", b"a", b"1"], [b"INCR", b"a"]]


def test_queued_errors_abort_exec_and_runtime_errors_do_not(h: Harness) -> None:
    h("MULTI")
    assert h("NOPE") == err("ERR unknown command 'NOPE', with args beginning with: ")
    assert h("EXEC") == err("EXECABORT Transaction discarded because of previous errors.")
    h("SET", "s", "abc")
    h("MULTI")
    h("INCR", "s")
    h("SET", "t", "1")
    assert h("EXEC") == [err("ERR value is not an integer or out of range"), b"OK"]
    assert h("EXEC") == err("ERR EXEC without MULTI")
    assert h("DISCARD") == err("ERR DISCARD without MULTI")
    h("MULTI")
    assert h("MULTI") == err("ERR MULTI calls can not be nested")
    assert h("WATCH", "x") == err("ERR WATCH inside MULTI is not allowed")
    assert h("DISCARD") == b"OK"


def test_watch_aborts_exec_when_another_client_writes(h: Harness) -> None:
    other = h.new_client()
    h("SET", "k", "1")
    h("WATCH", "k")
    h("SET", "k", "2", client=other)
    h("MULTI")
    h("SET", "k", "3")
    assert h("EXEC") is NullArray
    assert h("GET", "k") == b"2"
    # after EXEC the watch is gone: the next transaction runs
    h("MULTI")
    h("SET", "k", "3")
    assert h("EXEC") == [b"OK"]


def test_watch_is_not_triggered_by_reads_or_other_keys(h: Harness) -> None:
    other = h.new_client()
    h("WATCH", "k")
    h("GET", "k", client=other)
    h("SET", "unrelated", "1", client=other)
    h("MULTI")
    h("SET", "k", "1")
    assert h("EXEC") == [b"OK"]


def test_watched_key_that_expires_aborts_exec(h: Harness) -> None:
    h("SET", "k", "v", "PX", "10")
    h("WATCH", "k")
    h.clock.now += 10
    h("MULTI")
    h("SET", "x", "1")
    assert h("EXEC") is NullArray


def test_flushall_touches_watched_keys(h: Harness) -> None:
    other = h.new_client()
    h("SET", "k", "v")
    h("WATCH", "k")
    h("FLUSHALL", client=other)
    h("MULTI")
    assert h("EXEC") is NullArray


def test_auth_flow() -> None:
    h = Harness(Config(requirepass="secret"))
    h.client.authenticated = False
    assert h("GET", "k") == err("NOAUTH Authentication required.")
    assert h("AUTH", "wrong") == err("WRONGPASS invalid username-password pair or user is disabled.")
    assert h("HELLO", "3") == err(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "
        "version at the same time"
    )
    reply = h("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app")
    assert isinstance(reply, dict)
    assert reply[b"proto"] == 3
    assert h.client.resp3
    assert h.client.name == b"app"
    assert h("GET", "k") is None
    assert h("AUTH", "other", "secret") == err("WRONGPASS invalid username-password pair or user is disabled.")


def test_auth_without_a_password_configured(h: Harness) -> None:
    assert h("AUTH", "x") == err(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?"
    )
    assert h("AUTH", "default", "anything") == b"OK"


def test_hello_and_select(h: Harness) -> None:
    assert h("HELLO", "4") == err("NOPROTO unsupported protocol version")
    assert h("HELLO", "x") == err("ERR Protocol version is not an integer or out of range")
    assert h("HELLO", "3", "FOO") == err("ERR Syntax error in HELLO option 'FOO'")
    reply = h("HELLO")
    assert isinstance(reply, dict)
    assert list(reply) == [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"]
    assert h("SELECT", "0") == b"OK"
    assert h("SELECT", "15") == b"OK"
    assert h("SELECT", "16") == err("ERR DB index is out of range")
    assert h("SELECT", "-1") == err("ERR DB index is out of range")
    assert h("SELECT", "x") == err("ERR value is not an integer or out of range")
    assert h("SELECT", "4294967296") == err("ERR value is out of range, value must between -2147483648 and 2147483647")


def test_client_commands(h: Harness) -> None:
    assert h("CLIENT", "SETNAME", "my-app") == b"OK"
    assert h("CLIENT", "GETNAME") == b"my-app"
    assert h("CLIENT", "SETNAME", "has space") == err(
        "ERR Client names cannot contain spaces, newlines or special characters."
    )
    assert h("CLIENT", "ID") == h.client.id
    assert h("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == b"OK"
    assert h("CLIENT", "SETINFO", "FOO", "x") == err("ERR Unrecognized option 'FOO'")
    assert h("CLIENT", "NO-EVICT", "on") == b"OK"
    assert h("CLIENT", "NO-TOUCH", "maybe") == err("ERR syntax error")
    listing = h("CLIENT", "LIST")
    assert isinstance(listing, bytes)
    assert b"name=my-app" in listing
    assert b"lib-name=redis-py" in listing
    assert h("RESET") == b"RESET"
    assert h("CLIENT", "GETNAME") is None


def test_config_get_and_set(h: Harness) -> None:
    assert h("CONFIG", "GET", "appendfsync") == {b"appendfsync": b"always"}
    reply = h("CONFIG", "GET", "save", "appendonly")
    assert reply == {b"save": b"", b"appendonly": b"yes"}
    assert h("CONFIG", "SET", "appendfsync", "everysec") == b"OK"
    assert h.db.config.appendfsync == "everysec"
    assert h("CONFIG", "SET", "appendfsync", "sometimes") == err(
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - "
        "argument(s) must be one of the following: everysec, always, no"
    )
    assert h("CONFIG", "SET", "port", "1") == err(
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    )
    assert h("CONFIG", "SET", "nope", "1") == err("ERR Unknown option or number of arguments for CONFIG SET - 'nope'")
    assert h("CONFIG", "GET", "nothing-matches") == {}


def test_command_introspection_comes_from_the_table(h: Harness) -> None:
    assert h("COMMAND", "COUNT") == len(TABLE)
    info = h("COMMAND", "INFO", "get", "nope")
    assert isinstance(info, list)
    assert info[0][:6] == [b"get", 2, [b"fast", b"readonly"], 1, 1, 1]
    assert info[1] is None
    docs = h("COMMAND", "DOCS", "set")
    assert isinstance(docs, dict)
    assert docs[b"set"][b"summary"] == b"Set the string value of a key"
    assert h("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"]
    assert b"get" in h("COMMAND", "LIST")  # type: ignore[operator]
    listed = h("COMMAND", "LIST", "FILTERBY", "PATTERN", "get*")
    assert sorted(array(listed)) == [b"get", b"getbit", b"getdel", b"getex", b"getrange", b"getset"]


def test_every_table_entry_is_consistent() -> None:
    for name, spec in TABLE.items():
        assert spec.name == name
        assert spec.arity != 0
        assert (spec.handler is None) == (spec.name in ("client", "config", "object")) or spec.subcommands
        for sub_name, sub in spec.subcommands.items():
            assert sub.name == f"{name}|{sub_name.decode()}"
            assert sub.handler is not None


# --- dispatcher checks: MISCONF in transactions, no-multi, unexpected exceptions -------------------


class FailingDisk(RecordingLog):
    """A log whose disk fails: ``refusal`` is what Redis answers (and AppendOnlyLog sets)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: ErrorReply | None = None


MISCONF = err("MISCONF Errors writing to the AOF file: No space left on device")


def test_misconf_refuses_queued_writes_and_exec_checks_again() -> None:
    disk = FailingDisk()
    db = Database(Config(), disk)
    client = db.clients.new()

    def run(*args: str) -> object:
        return db.execute(client, [a.encode() for a in args])

    assert run("MULTI") == b"OK"
    assert run("INCR", "ctr") == b"QUEUED"
    disk.refusal = MISCONF  # the disk fails between queueing and EXEC
    assert run("EXEC") == err(f"EXECABORT Transaction discarded because of: {MISCONF.decode()}")
    assert client.multi is None
    assert run("GET", "ctr") is None
    assert run("MULTI") == b"OK"
    assert run("INCR", "ctr") == MISCONF  # at queue time
    assert run("PING") == MISCONF  # as Redis: PING is refused too
    assert run("GET", "ctr") == b"QUEUED"
    assert run("EXEC") == err("EXECABORT Transaction discarded because of previous errors.")
    assert run("MULTI") == b"OK"
    assert run("GET", "ctr") == b"QUEUED"
    assert run("EXEC") == [None]  # a transaction without writes still runs
    assert run("INCR", "ctr") == MISCONF
    assert disk.units == []


def test_no_multi_commands_are_refused_inside_multi(h: Harness) -> None:
    assert h("MULTI") == b"OK"
    assert h("SET", "k", "1") == b"QUEUED"
    assert h("SHUTDOWN", "NOSAVE") == err("ERR Command not allowed inside a transaction")
    assert h("EXEC") == err("EXECABORT Transaction discarded because of previous errors.")
    assert h("EXISTS", "k") == 0


def _buggy(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """A write handler with a bug: it changes its key, then fails before logging anything."""
    ctx.keyspace.set(argv[1], b"half-done")
    raise ZeroDivisionError("a bug, with " + "the client's data " * 100)


def with_buggy_command(h: Harness) -> None:
    spec = CommandSpec("buggy", 2, frozenset({"write"}), 1, 1, 1, "string", "a bug", "1.0.0", "O(1)", _buggy)
    h.db._lookup[b"buggy"] = spec


def test_an_unexpected_exception_is_an_error_reply_and_exec_goes_on(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with_buggy_command(h)
    bug = err("ERR internal error executing 'buggy' (reported in the server log)")
    assert h("SET", "k", "old", "EX", "100") == b"OK"
    assert h("MULTI") == b"OK"
    assert h("SET", "a", "1") == b"QUEUED"
    assert h("BUGGY", "k") == b"QUEUED"
    assert h("SET", "b", "2") == b"QUEUED"
    assert h("EXEC") == [b"OK", bug, b"OK"]
    assert h("BUGGY", "k") == bug
    assert h("INCRBYFLOAT", "f", "1e1000000") == err("ERR value is not a valid float")  # was decimal.Overflow
    # the traceback is logged once, with the command name, and none of the client's data past a prefix
    reports = [r for r in caplog.records if "Internal error in 'buggy'" in r.getMessage()]
    assert len(reports) == 1
    assert reports[0].levelname == "WARNING"
    assert "ZeroDivisionError" in reports[0].getMessage()
    assert "_buggy" in reports[0].getMessage()
    assert reports[0].getMessage().count("the client's data") < 10
    # the log replays to the keyspace the server has, half-done key and deadline included
    replica = Database(Config(), clock=h.clock)
    replica.logging = False
    client = replica.clients.new()
    for record in h.records():
        assert not isinstance(replica.call(client, record), ErrorReply)
    assert replica.keyspace.data == h.db.keyspace.data == {b"k": b"half-done", b"a": b"1", b"b": b"2"}
    assert replica.keyspace.expires == h.db.keyspace.expires


# --- maxmemory ---------------------------------------------------------------------------------------


class DataSize:
    """A stand-in for the RSS that moves with the data: a fixed base plus the values' bytes."""

    def __init__(self, base: int = 1000) -> None:
        self.base = base
        self.db: Database | None = None

    def __call__(self) -> int:
        assert self.db is not None
        return self.base + sum(len(v) for v in self.db.keyspace.data.values() if isinstance(v, bytes))


def memory_harness(maxmemory: int, policy: str = "noeviction") -> Harness:
    h = Harness(Config(maxmemory=maxmemory, maxmemory_policy=policy))
    size = DataSize()
    ticks = iter(range(10**9))
    h.db.memory = MemoryMeter(size, clock=lambda: float(next(ticks)))  # a new sample every time
    size.db = h.db
    return h


OOM = err("OOM command not allowed when used memory > 'maxmemory'.")


def test_noeviction_refuses_denyoom_writes_and_serves_reads() -> None:
    h = memory_harness(5000)
    assert h("SET", "big", "x" * 4500) == b"OK"
    assert h("SET", "more", "y") == OOM
    assert h("APPEND", "big", "z") == OOM
    assert h("GET", "more") is None
    assert h("STRLEN", "big") == 4500
    assert h("EXPIRE", "big", "100") == 1  # not denyoom, as in Redis
    assert h("MULTI") == b"OK"
    assert h("GET", "big") == OOM  # queueing takes memory: everything is refused in MULTI
    assert h("EXEC") == err("EXECABORT Transaction discarded because of previous errors.")
    assert h("DEL", "big") == 1
    assert h("SET", "more", "y") == b"OK"
    info = h("INFO", "memory")
    assert isinstance(info, bytes)
    assert b"maxmemory:5000\r\n" in info
    assert b"maxmemory_policy:noeviction\r\n" in info
    assert b"used_memory:1001\r\n" in info


def test_exec_with_denyoom_commands_is_refused_over_maxmemory() -> None:
    h = memory_harness(5000)
    assert h("MULTI") == b"OK"
    assert h("SET", "big", "x" * 4500) == b"QUEUED"
    assert h("SET", "k", "v") == b"QUEUED"
    assert h("EXEC") == [b"OK", b"OK"]
    assert h("MULTI") == b"OK"
    assert h("SET", "k", "w") == OOM
    h.db.config.maxmemory = 0
    assert h("DISCARD") == b"OK"
    assert h("MULTI") == b"OK"
    assert h("SET", "k", "w") == b"QUEUED"
    h.db.config.maxmemory = 5000  # over the limit by EXEC time
    assert h("EXEC") == err(f"EXECABORT Transaction discarded because of: {OOM.decode()}")
    assert h("GET", "k") == b"v"


def test_allkeys_random_evicts_and_logs_until_under_the_limit() -> None:
    h = memory_harness(11_000, "allkeys-random")
    for i in range(100):
        assert h("SET", f"k{i}", "x" * 1000) == b"OK"
    assert 5 <= h("DBSIZE") <= 11  # type: ignore[operator]  # (checked before each write, as in Redis)
    assert h.db.stats.evicted_keys == 100 - h("DBSIZE")  # type: ignore[operator]
    dels = [r for r in h.records() if r[0] == b"DEL"]
    assert len(dels) == h.db.stats.evicted_keys
    assert b"evicted_keys:%d\r\n" % h.db.stats.evicted_keys in h("INFO", "stats")  # type: ignore[operator]


def test_volatile_ttl_evicts_the_nearest_deadline_and_never_persistent_keys() -> None:
    h = memory_harness(4500, "volatile-ttl")
    assert h("SET", "keep", "x" * 1000) == b"OK"
    assert h("SET", "late", "x" * 1000, "EX", "300") == b"OK"
    assert h("SET", "soon", "x" * 1000, "EX", "100") == b"OK"
    assert h("SET", "soonest", "x" * 1000, "EX", "10") == b"OK"
    assert h("SET", "new", "x" * 1000) == b"OK"  # 5000 > 4500 before it: evicts soonest only
    assert h("EXISTS", "keep", "late", "soon", "soonest", "new") == 4
    assert h("EXISTS", "soonest") == 0
    assert h("CONFIG", "SET", "maxmemory", "500") == b"OK"
    assert h("SET", "x", "y") == OOM  # evicting every volatile key is not enough
    assert h("EXISTS", "keep", "new") == 2
    assert h("EXISTS", "late", "soon") == 0
