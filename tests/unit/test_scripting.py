"""The scripting commands in-process: the log gets a script's effects as one unit, WATCH sees them."""

from __future__ import annotations

from kvserver.protocol import NullArray
from tests.support import Harness


def test_a_script_is_one_unit_of_its_effects_in_the_log() -> None:
    h = Harness()
    script = "redis.call('set', KEYS[1], 'v') redis.call('incr', KEYS[2]) redis.call('get', KEYS[1]) return 1"
    assert h("EVAL", script, "2", "a", "n") == 1
    assert h.log.units == [[[b"set", b"a", b"v"], [b"incr", b"n"]]]


def test_a_read_only_script_logs_nothing() -> None:
    h = Harness()
    h("SET", "a", "v")
    h.log.units.clear()
    assert h("EVAL", "return redis.call('get', KEYS[1])", "1", "a") == b"v"
    assert h.log.units == []


def test_a_script_in_multi_is_part_of_the_transaction_unit() -> None:
    h = Harness()
    h("MULTI")
    h("SET", "x", "1")
    h("EVAL", "return redis.call('incr', 'x')", "0")
    assert h("EXEC") == [b"OK", 2]
    assert h.log.units == [[[b"SET", b"x", b"1"], [b"incr", b"x"]]]


def test_select_inside_a_script_is_logged_and_does_not_move_the_caller() -> None:
    h = Harness()
    assert h("EVAL", "redis.call('select', 3) return redis.call('set', 'k', 'v')", "0") == b"OK"
    assert h("EXISTS", "k") == 0
    assert h.log.units == [[[b"SELECT", b"3"], [b"set", b"k", b"v"]]]
    h("SET", "here", "1")
    assert h.log.units[-1] == [[b"SELECT", b"0"], [b"SET", b"here", b"1"]]


def test_a_script_dirties_a_watch_of_another_client() -> None:
    h = Harness()
    other = h.new_client()
    h("WATCH", "k")
    h("EVAL", "return redis.call('set', KEYS[1], 'changed')", "1", "k", client=other)
    h("MULTI")
    h("GET", "k")
    assert h("EXEC") is NullArray


def test_evalsha_runs_the_cached_script_and_script_flush_forgets_it() -> None:
    h = Harness()
    sha = h("SCRIPT", "LOAD", "return ARGV[1]")
    assert isinstance(sha, bytes)
    assert h("EVALSHA", sha, "0", "x") == b"x"
    assert h("SCRIPT", "EXISTS", sha) == [1]
    assert h("SCRIPT", "FLUSH") == b"OK"
    assert h("EVALSHA", sha, "0", "x") == b"NOSCRIPT No matching script. Please use EVAL."


def test_function_load_is_logged_and_fcall_logs_effects() -> None:
    h = Harness()
    setter = "function(keys) return redis.call('set', keys[1], 'v') end"
    library = f"#!lua name=lib\nredis.register_function('setter', {setter})"
    assert h("FUNCTION", "LOAD", library) == b"lib"
    assert h("FCALL", "setter", "1", "k") == b"OK"
    assert h("FUNCTION", "DELETE", "lib") == b"OK"
    assert h.log.units == [
        [[b"FUNCTION", b"LOAD", b"REPLACE", library.encode()]],
        [[b"set", b"k", b"v"]],
        [[b"FUNCTION", b"DELETE", b"lib"]],
    ]


def test_the_lua_memory_cap_fails_the_script_not_the_server() -> None:
    h = Harness()
    reply = h("EVAL", "local t = {} for i = 1, 1e9 do t[i] = {i, i, i, i, i, i, i, i} end", "0")
    assert isinstance(reply, bytes)
    assert reply.startswith(b"ERR Error running script")
    assert h("EVAL", "return 1", "0") == 1


# what redis-server 7.0.15 answers FUNCTION DUMP with this one library loaded
REDIS_DUMP = (
    b"\xf5@Q#!lua name=mylib\nredis.register_function('f1', function(keys, args) return 1 end)"
    b"\n\x00\xcdw\xd9\xf8\x9694h"
)


def test_function_dump_is_redis_payload_and_restores() -> None:
    h = Harness()
    code = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return 1 end)"
    assert h("FUNCTION", "LOAD", code) == b"mylib"
    assert h("FUNCTION", "DUMP") == REDIS_DUMP
    assert h("FUNCTION", "RESTORE", REDIS_DUMP) == b"ERR Library mylib already exists"
    assert h("FUNCTION", "FLUSH") == b"OK"
    assert h("FUNCTION", "RESTORE", REDIS_DUMP) == b"OK"
    assert h("FCALL", "f1", "0") == 1
    assert h("FUNCTION", "RESTORE", REDIS_DUMP[:-1] + b"x") == b"ERR DUMP payload version or checksum are wrong"
    assert h("FUNCTION", "RESTORE", REDIS_DUMP, "REPLACE") == b"OK"
    assert h("FUNCTION", "RESTORE", REDIS_DUMP, "FLUSH") == b"OK"
    assert h.log.units[-1] == [[b"FUNCTION", b"FLUSH"], [b"FUNCTION", b"LOAD", b"REPLACE", code.encode()]]
