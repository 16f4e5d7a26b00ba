"""kvserver.scripting.lualibs in a bare Lua runtime: what Redis's own tests expect of bit, cjson,
cmsgpack and struct, how errors are raised, and that the libraries survive a sandbox and hostile
input. (tests/e2e/test_lualibs_redis.py holds them to a real redis-server, case by case.)"""

from __future__ import annotations

from typing import Any

import pytest

from kvserver.scripting.lualibs import LIBRARIES
from tests.support import lua_with_libraries


@pytest.fixture
def lua() -> Any:
    return lua_with_libraries()


def run(lua: Any, code: str) -> Any:
    return lua.execute(code, name="@user_script")


def test_install_sets_exactly_the_four_libraries() -> None:
    import importlib

    bare = importlib.import_module("lupa.lua51").LuaRuntime(encoding=None)
    before = set(bare.execute("local t = {} for k in pairs(_G) do t[#t + 1] = k end return t").values())
    from kvserver.scripting.lualibs import install

    install(bare)
    after = set(bare.execute("local t = {} for k in pairs(_G) do t[#t + 1] = k end return t").values())
    assert after - before == {name.encode() for name in LIBRARIES}


def test_no_python_object_is_reachable(lua: Any) -> None:
    # every value of every library is Lua's own: functions, strings and cjson.null, a userdata
    # with no metatable (a Python object would have lupa's metatable, a way out of the sandbox)
    kinds = run(
        lua,
        """
        local kinds = {}
        for _, lib in ipairs({bit, cjson, cmsgpack, struct}) do
          for k, v in pairs(lib) do kinds[type(v)] = (kinds[type(v)] or 0) + 1 end
        end
        return kinds.userdata, getmetatable(cjson.null), kinds.table
        """,
    )
    assert kinds == (1, None, None)


# --- Redis's tests (tests/unit/scripting.tcl) -------------------------------------------------


def test_json_numeric_decoding(lua: Any) -> None:
    got = run(lua, """return table.concat(cjson.decode("[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]"), " ")""")
    assert got == b"0 -5000 -1 0.0003 1023.2 0"


def test_json_string_decoding(lua: Any) -> None:
    got = run(lua, """local d = cjson.decode('{"keya": "a", "keyb": "b"}') return d.keya .. d.keyb""")
    assert got == b"ab"


@pytest.mark.parametrize(
    ("value", "packed"),
    [("0.1", "cb3fb999999999999a"), ("-1099511627776", "d3ffffff0000000000"), ("1.5", "ca3fc00000")],
)
def test_cmsgpack_numbers(lua: Any, value: str, packed: str) -> None:
    assert run(lua, f"return cmsgpack.pack({value})").hex() == packed


def test_cmsgpack_circular_reference_is_cut_at_depth_16(lua: Any) -> None:
    got = run(lua, "local a = {y = 5} local b = {x = a} a.x = b return cmsgpack.pack(a)")
    assert got.hex() == "82a17905a17881a17882" + "a17905a17881a17882" * 6 + "a17905a17881a178c0"


def test_bitop_minimal(lua: Any) -> None:
    assert run(lua, "return bit.tobit(1), bit.band(1), bit.bxor(1, 2), bit.bor(1, 2, 4, 8, 16, 32, 64, 128)") == (
        1,
        1,
        3,
        255,
    )


# --- values -----------------------------------------------------------------------------------


def test_bit_wraps_to_signed_32_bits(lua: Any) -> None:
    got = run(lua, "return bit.tobit(2^32 + 5), bit.lshift(1, 31), bit.tohex(-1), bit.tohex(255, -4)")
    assert got == (5, -2147483648, b"ffffffff", b"00FF")


def test_cjson_escapes_and_formats_as_redis(lua: Any) -> None:
    got = run(lua, r"""return cjson.encode({"a/b", 0.1, 1e100, 3, "\1"})""")
    assert got == rb'["a\/b",0.1,1e+100,3,"\u0001"]'


def test_cjson_null_round_trips(lua: Any) -> None:
    assert run(lua, """return cjson.decode('[null]')[1] == cjson.null, cjson.encode({cjson.null})""") == (
        True,
        b"[null]",
    )


def test_cmsgpack_unpack_returns_every_value(lua: Any) -> None:
    assert run(lua, "return cmsgpack.unpack(cmsgpack.pack(1, 'two', -3.5, true))") == (1, b"two", -3.5, True)


def test_struct_round_trip(lua: Any) -> None:
    got = run(lua, "return struct.unpack('>i2Hds', struct.pack('>i2Hds', -2, 65535, 0.25, 'str'))")
    assert got == (-2, 65535, 0.25, b"str", 17)


def test_cjson_settings_belong_to_one_instance(lua: Any) -> None:
    got = run(lua, "local c = cjson.new() c.encode_max_depth(5) return c.encode_max_depth(), cjson.encode_max_depth()")
    assert got == (5, 1000)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("bit.band(nil)", "bad argument #1 to 'band' (number expected, got nil)"),
        ("cjson.decode('[1,')", "Expected value but found T_END at character 4"),
        ("cjson.encode({[true] = 1})", "Cannot serialise boolean: table key must be a number or string"),
        ("cmsgpack.unpack('\\146\\1')", "Missing bytes in input."),
        ("struct.pack('i33')", "integral size 33 is larger than limit of 32"),
        ("struct.unpack('b', 'a', 0)", "bad argument #3 to 'unpack' (offset must be 1 or greater)"),
    ],
)
def test_errors_name_the_scripts_line(lua: Any, call: str, message: str) -> None:
    # as luaL_error in a C function: the position is the script's call, on line 3 here
    got = run(lua, f"local ok, e = pcall(function()\n\nlocal r = {call}\nend)\nreturn e")
    assert got == b"user_script:3: " + message.encode()


def test_foreign_errors_pass_through_unchanged(lua: Any) -> None:
    # an error raised inside a library call by something else (the engine's instruction hook, out
    # of memory) is not rewritten as the library's own: the same object reaches the script
    got = run(
        lua,
        """
        local stop = {}
        debug.sethook(function() error(stop) end, "", 1000)
        local ok, e = pcall(cjson.decode, "[" .. string.rep("1,", 100000) .. "1]")
        debug.sethook()
        return ok, e == stop
        """,
    )
    assert got == (False, True)


# --- a sandbox, hostile input ---------------------------------------------------------------


def test_libraries_work_after_the_sandbox_removes_globals(lua: Any) -> None:
    got = run(
        lua,
        """
        local cjson, cmsgpack, bit, struct = cjson, cmsgpack, bit, struct
        for _, name in ipairs({"string", "math", "table", "tonumber", "tostring", "type", "pcall",
                               "error", "select", "next", "pairs", "unpack", "setmetatable",
                               "getmetatable", "rawset", "newproxy"}) do
          _G[name] = nil
        end
        return cjson.encode(cjson.decode('{"a":[1,2.5]}')), cmsgpack.unpack(cmsgpack.pack({1, 2})),
          bit.bxor(5, 3), struct.unpack('<i', struct.pack('<i', -7))
        """,
    )
    assert got[0] == b'{"a":[1,2.5]}'
    assert got[2:4] == (6, -7)


def test_deep_json_is_refused_at_the_depth_limit(lua: Any) -> None:
    got = run(lua, "return pcall(cjson.decode, string.rep('[', 1000000))")
    assert got == (False, b"Found too many nested data structures (1001) at character 1001")


def test_huge_claimed_lengths_are_not_allocated(lua: Any) -> None:
    got = run(
        lua,
        """
        local a, b = pcall(cmsgpack.unpack, '\\219\\255\\255\\255\\255ab')
        local c, d = pcall(cmsgpack.unpack, '\\221\\255\\255\\255\\255')
        return b, d, collectgarbage('count') < 10000
        """,
    )
    assert got == (b"Missing bytes in input.", b"Missing bytes in input.", True)


def test_large_input_decodes(lua: Any) -> None:
    got = run(lua, "local s = '[' .. string.rep('\"abc\",', 200000) .. '1]' return #cjson.decode(s)")
    assert got == 200001


def test_library_frames_carry_the_engines_chunk_name(lua: Any) -> None:
    # the engine's error handler steps over frames of its own chunk ("=kvserver") to report the
    # script's line, as Redis's steps over the C frames of its libraries
    got = run(lua, "return debug.getinfo(cjson.encode, 'S').source, debug.getinfo(struct.pack, 'S').source")
    assert got == (b"=kvserver", b"=kvserver")
