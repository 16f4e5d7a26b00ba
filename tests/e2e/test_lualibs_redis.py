"""kvserver's Lua libraries (bit, cjson, cmsgpack, struct) against real Redis's, byte for byte.

Each case is one Lua script, run by redis-server's EVAL and by a bare Lua runtime with
kvserver.scripting.lualibs installed. The script returns one string: a dump of everything its body
returned (or of the error it raised, caught by pcall, with its ``user_script:N:`` position), so
numbers, byte strings, table contents and error texts all have to agree exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import ServerProcess, lua_with_libraries

# Values as text: numbers with 17 digits, strings quoted, tables with their keys sorted.
PRELUDE = r"""
local function dump(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then return string.format("%.17g", v) end
  if t == "boolean" or t == "nil" then return tostring(v) end
  if t == "table" then
    local keys, out = {}, {}
    for k in pairs(v) do keys[#keys + 1] = {dump(k), k} end
    table.sort(keys, function(a, b) return a[1] < b[1] end)
    for i, k in ipairs(keys) do out[i] = "[" .. k[1] .. "]=" .. dump(v[k[2]]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if v == cjson.null then return "cjson.null" end
  return t
end
local function pack(...) return {n = select("#", ...), ...} end
local function run(f)
  local r = pack(pcall(f))
  local out = {}
  for i = 1, r.n do out[i] = dump(r[i]) end
  return table.concat(out, " | ")
end
"""

# Expressions: the script returns run(function() return pack(<expression>) end), so library
# calls are arguments, never tail calls, and their errors carry the script's position.
EXPRESSIONS: list[str] = [
    # --- bit: LuaBitOp's conversion to 32 bits (round to even, wrap), results signed
    "bit.tobit(1), bit.tobit(-1), bit.tobit(2^31), bit.tobit(2^32 + 5), bit.tobit(-2^31 - 1)",
    "bit.tobit(2.5), bit.tobit(3.5), bit.tobit(-2.5), bit.tobit(0.4999), bit.tobit(-0.0)",
    "bit.tobit(2^52 + 3.5), bit.tobit(-2^60 + 12345), bit.tobit(1e300), bit.tobit(-1e300), bit.tobit(2^63)",
    "bit.tobit(1/0), bit.tobit(-1/0), bit.tobit(0/0)",
    "bit.tobit('12'), bit.tobit('0x10'), bit.tobit(' 7 ')",
    "bit.bnot(0), bit.bnot(-1), bit.bnot(0x12345678)",
    "bit.band(0x12345678, 0x0ff0ff0f), bit.band(-1, -2), bit.band(7), bit.band(255, 15, 6)",
    "bit.bor(1, 2, 4, 8, 16, 32, 64, 128), bit.bor(-2^31, 1), bit.bor(0)",
    "bit.bxor(1, 2), bit.bxor(1, 2, 3, 4, 5, 6, 7), bit.bxor(-1, 0x0f0f0f0f)",
    "bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(-1, 4), bit.lshift(3, -1)",
    "bit.rshift(-1, 28), bit.rshift(256, 4), bit.rshift(1, 33)",
    "bit.arshift(-256, 4), bit.arshift(-1, 31), bit.arshift(2^31, 1), bit.arshift(16, 2)",
    "bit.rol(0x12345678, 8), bit.rol(1, 0), bit.rol(1, 31), bit.rol(-1, 7)",
    "bit.ror(0x12345678, 8), bit.ror(1, 1), bit.ror(1, 0), bit.ror(2, 33)",
    "bit.bswap(0x12345678), bit.bswap(-1), bit.bswap(1)",
    "bit.tohex(65535), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(255, -9)",
    "bit.tohex(255, 0), bit.tohex(0x12345678, 12), bit.tohex(1.5e9, 3)",
    "bit.band(nil)",
    "bit.band()",
    "bit.band(1, true)",
    "bit.band({})",
    "bit.bor(1, 2, 'x')",
    "bit.lshift(1)",
    "bit.tohex(1, nil)",
    "bit.tobit('abc')",
    # --- the function's name in "bad argument": as the caller called it, '?' from pcall
    "pcall(bit.band, nil)",
    "pcall(cjson.decode)",
    "pcall(struct.pack, 'z')",
    "pcall(cmsgpack.pack)",
    "pcall(struct.unpack, 'b', 'x', 0)",
    "pcall(cjson.encode_max_depth, 'x')",
    "pcall(cjson.encode_keep_buffer, 'x')",
    "(function() local f = bit.band local ok, e = pcall(function() local x = f(nil) end) return e end)()",
    "(function() local ok, e = pcall(function() local x = bit:band() end) return e end)()",
    "(function() local ok, e = pcall(function() local x = struct:unpack('b', 'x', 0) end) return e end)()",
    # --- cjson: encoding
    "cjson.encode({1, 2, 3}), cjson.encode({}), cjson.encode({{}}), cjson.encode({a = {}})",
    "cjson.encode({1, 2, 3, nil, 5}), cjson.encode({[1] = 1, [3] = 3}), cjson.encode({[1] = 1, [12] = 2})",
    "cjson.encode({[1] = 1, [2] = 2, [100] = 3})",
    "cjson.encode({[0] = 1}), cjson.encode({[-1] = 1}), cjson.encode({[1.5] = 1}), cjson.encode({[2^40] = 1})",
    "cjson.encode({[1] = 'a', x = 'b'}), cjson.encode({one = 'one', [1] = 'one'})",
    "cjson.encode(setmetatable({1, nil, 3}, {__index = function() return 'x' end}))",
    "cmsgpack.pack(setmetatable({1, 2}, {__index = function() return 'x' end}))",
    "cjson.encode({[true] = 1})",
    "cjson.encode({[{}] = 1})",
    "cjson.encode(0.1), cjson.encode(1e100), cjson.encode(-0.0), cjson.encode(123456789012345678)",
    "cjson.encode(1/3), cjson.encode(100), cjson.encode(-5e-324), cjson.encode(3.14159265358979)",
    "cjson.encode(1/0)",
    "cjson.encode({a = 0/0})",
    "cjson.encode({[0/0] = 1})",
    "cjson.encode('\\0\\1\\31\\127\\128\\255/\"\\\\ \\b\\f\\n\\r\\t'), cjson.encode('h\\195\\169llo')",
    "cjson.encode(true), cjson.encode(false), cjson.encode(nil), cjson.encode(cjson.null), cjson.encode({cjson.null})",
    "cjson.encode(function() end)",
    "cjson.encode({f = coroutine.create(function() end)})",
    "cjson.encode()",
    "cjson.encode(1, 2)",
    "cjson.encode({s1 = 'Some string', n1 = 100, a1 = {'Some', 'String', 'Array'}, b1 = true, b2 = false})",
    "(function() local t = {} t[1] = t return pcall(cjson.encode, t) end)()",
    "(function() local t = {} t.a = t return pcall(cjson.encode, t) end)()",
    # --- cjson: decoding
    'cjson.decode(\'[1,2,{"a":null,"b":[true,false]}]\')',
    "table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
    'cjson.decode(\'{"keya": "a", "keyb": "b"}\')',
    "cjson.decode('\\t\\r\\n[ 1 , 2 ]\\n'), cjson.decode('\"x\"'), cjson.decode('12'), cjson.decode('null')",
    'cjson.decode(\'["\\\\u00e9\\\\ud83d\\\\ude00\\\\u0000\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\\\\"\\\\\\\\"]\')',
    'cjson.decode(\'["\\\\u20AC", "\\\\u007f", "\\\\u07ff"]\')',
    'cjson.decode(\'{"a":1,"a":2}\')',
    "cjson.decode('')",
    "cjson.decode('   ')",
    "cjson.decode('[1,2')",
    "cjson.decode('[1,')",
    "cjson.decode('{\"a\":1,}')",
    "cjson.decode('{1:2}')",
    "cjson.decode('{\"a\" 1}')",
    'cjson.decode(\'{"a":1 "b":2}\')',
    "cjson.decode('[1 2]')",
    "cjson.decode('[1true]')",
    "cjson.decode('[1]x')",
    "cjson.decode(']')",
    "cjson.decode('\"\\\\ud83d\"')",
    "cjson.decode('\"\\\\ude00\"')",
    "cjson.decode('\"\\\\ud83d\\\\u0041\"')",
    "cjson.decode('[\"\\\\u00\"]')",
    "cjson.decode('\"\\\\x\"')",
    "cjson.decode('\"abc')",
    "cjson.decode('\"abc\\\\')",
    "cjson.decode('[nul]')",
    "cjson.decode('[tru]')",
    "cjson.decode('[True]')",
    "cjson.decode('[NaN, Infinity, -inf, +1, 0x10, 010, 1e5, .5, 5.]')",
    "cjson.decode('[-]')",
    "cjson.decode('[1e]'), cjson.decode('[-0]'), cjson.decode('[1E+2]'), cjson.decode('[0x1p4]')",
    "cjson.decode('[0x]')",
    "cjson.decode('[nan(123)]')[1] ~= cjson.decode('[nan(123)]')[1]",
    "cjson.decode('[1.5e400]'), cjson.decode('[-1.5e400]'), cjson.decode('[4.9e-330]')",
    "cjson.decode(' [1] \\0 garbage')",
    "cjson.decode('\\0a')",
    "cjson.decode('a\\0')",
    "cjson.decode('\"a\\0b\"')",
    "cjson.decode(12)",
    "cjson.decode(nil)",
    "cjson.decode({})",
    "cjson.decode()",
    "cjson.decode('1', '2')",
    "cjson.decode(string.rep('[', 1001))",
    "cjson.decode(string.rep('{\"a\":', 1001))",
    "#cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))",
    "cjson.decode(string.rep('[', 100000))",
    'cjson.decode(\'{"a":[1,{"b":null}],"c":"d"}\')',
    # plain keys and strings are read by one pattern; whitespace and escapes take the tokenizer
    r"""cjson.decode('{"a" : "x", "b\\"c":"y\\n", "d":["p", "q\\t", 1, "r"] , "e" :1}')""",
    r"""cjson.decode('["a",  "b",\n"c","","d"]'), cjson.decode('{"":""}')""",
    r"""cjson.decode('{"a":"x","b"}')""",
    r"""cjson.decode('{"a":"x","b":}')""",
    r"""cjson.decode('["a","b"')""",
    r"""cjson.decode('["a","b\\x"]')""",
    r"""cjson.decode('["a","b" "c"]')""",
    # --- cjson: configuration
    "cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision()",
    "cjson.encode_keep_buffer(), cjson.encode_invalid_numbers(), cjson.decode_invalid_numbers()",
    "cjson.encode_sparse_array()",
    "cjson.encode_max_depth(0)",
    "cjson.encode_max_depth('x')",
    "cjson.encode_max_depth(1, 2)",
    "cjson.encode_max_depth('7'), cjson.encode_max_depth(2.9), cjson.encode_max_depth(2^32 + 3)",
    "cjson.encode_sparse_array(true, 'x')",
    "cjson.encode_sparse_array('yes')",
    "cjson.encode_sparse_array(1)",
    "cjson.encode_sparse_array(nil, -1)",
    "cjson.encode_sparse_array(nil, nil, 5, 6)",
    "cjson.encode_number_precision(15)",
    "cjson.encode_keep_buffer('on'), cjson.encode_keep_buffer(false), cjson.encode_keep_buffer('of')",
    "cjson.encode_invalid_numbers('null'), cjson.encode({1/0, 0/0}), cjson.encode_invalid_numbers(true)",
    "cjson.encode_invalid_numbers(true), cjson.encode({1/0, -1/0, 0/0}), cjson.encode({[1/0] = 1})",
    "cjson.encode_invalid_numbers('maybe')",
    "cjson.encode_number_precision(3), cjson.encode(3.14159), cjson.encode(12345), cjson.encode({[0.5] = 1})",
    "cjson.decode_invalid_numbers(false), cjson.decode('[1.5, -2, 0]')",
    "cjson.decode_invalid_numbers(false), cjson.decode('[+1]')",
    "cjson.decode_invalid_numbers(false), cjson.decode('[-inf]')",
    "cjson.decode_invalid_numbers(false), cjson.decode('[01]')",
    "cjson.decode_invalid_numbers(false), cjson.decode('[0x10]')",
    "cjson.decode_invalid_numbers(false), cjson.decode('[NaN]')",
    "cjson.encode_sparse_array(true), cjson.encode({[1] = 1, [20] = 2})",
    "cjson.encode_sparse_array(false, 0), cjson.encode({[1] = 1, [2000] = 2})",
    "cjson.encode_sparse_array(false, 3, 1), cjson.encode({[1] = 1, [3] = 3})",
    "cjson.encode_max_depth(2), cjson.encode({{}})",
    "cjson.encode_max_depth(2), cjson.encode({{{}}})",
    "cjson.decode_max_depth(1), cjson.decode('[]')",
    'cjson.decode_max_depth(1), cjson.decode(\'{"obj": {"array": [1,2,3,4]}}\')',
    "cjson.encode_max_depth(100000), (function() local t = {} t[1] = {a = t} return pcall(cjson.encode, t) end)()",
    "cjson.decode_max_depth(100000), pcall(cjson.decode, string.rep('[', 9000))",
    "cjson.decode_max_depth(100000), pcall(cjson.decode, string.rep('{\"a\":', 9000))",
    "cjson.decode_max_depth(100000), pcall(cjson.decode, string.rep('[[1,2],{\"a\":[', 3000))",
    "cjson._NAME, cjson._VERSION, type(cjson.null), type(cjson.new), cjson.new().encode({1})",
    "cjson.encode_max_depth(1), cjson.new().encode({{1}}), cjson.new().encode_max_depth()",
    # --- cmsgpack: packing
    "cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32 - 1, 2^32, 2^53, 2^63, -2^63)",
    "cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1, -2^53, -1099511627776)",
    "cmsgpack.pack(0.5, 0.1, 1/0, -1/0, 0/0, -0.0, 1e39, 1e-40, 3.4028234663852886e38, 1.401298464324817e-45)",
    "cmsgpack.pack(2^-149 * 1.5, 2^64, -2^63 - 2049, 2^-1074, 2^-1060 * 3, 2^-1022, 1e308, 2^-126, 2^-127)",
    "cmsgpack.pack(3.4028235677973366e38, 1.5, -2.75, 16777217, 16777217.5, 0.3, 1e-300)",
    "cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {[1] = 1, [3] = 3}, {1, 2, nil, 4}, {[0] = 1}, {[1.5] = 2})",
    "cmsgpack.pack({[-1] = 2}, {true, false}, {[2^31] = 1}, {x = {y = {z = 'deep'}}})",
    "cmsgpack.pack(string.rep('x', 31), string.rep('y', 32), string.rep('z', 255), string.rep('w', 256))",
    "cmsgpack.pack(string.rep('w', 65535)):sub(1, 6), cmsgpack.pack(string.rep('w', 65536)):sub(1, 8)",
    "#cmsgpack.pack(string.rep('v', 100000))",
    "cmsgpack.pack(cjson.null, nil, type, coroutine.create(type))",
    "(function() local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t) end)()",
    "(function() local t = {} for i = 1, 70000 do t[i] = 1 end return cmsgpack.pack(t):sub(1, 8) end)()",
    "(function() local t = {} for i = 1, 17 do t['k' .. i] = i end return #cmsgpack.pack(t) end)()",
    "(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()",
    "(function() local t = {} t.a = t return cmsgpack.pack(t) end)()",
    "cmsgpack.pack()",
    # --- cmsgpack: unpacking
    "cmsgpack.unpack(cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32 - 1, 2^32, 2^53, 2^63, -2^63))",
    "cmsgpack.unpack(cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1, -2^53))",
    "cmsgpack.unpack(cmsgpack.pack(0.5, 0.1, 1/0, -1/0, -0.0, 1e39, 1e-40, 3.4028234663852886e38, 2^-149))",
    "cmsgpack.unpack(cmsgpack.pack(2^64, -2^63 - 2049, 2^-1074, 2^-1060 * 3, 2^-1022, 1e308, 2^-126))",
    "cmsgpack.unpack(cmsgpack.pack({1, 2, {a = {b = 'c'}}}, 'x', true, false))",
    "cmsgpack.unpack('\\202\\127\\192\\0\\1') ~= cmsgpack.unpack('\\202\\127\\192\\0\\1')",
    "cmsgpack.unpack('\\202\\0\\0\\0\\3'), cmsgpack.unpack('\\202\\128\\0\\0\\0')",
    "cmsgpack.unpack('\\202\\255\\128\\0\\0')",
    "cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')",
    "cmsgpack.unpack('\\207\\128\\0\\0\\0\\0\\0\\0\\1')",
    "cmsgpack.unpack('\\211\\255\\255\\255\\255\\255\\255\\255\\254')",
    "cmsgpack.unpack('\\211\\127\\255\\255\\255\\255\\255\\255\\255')",
    "cmsgpack.unpack('\\204\\200\\208\\200\\205\\255\\1\\209\\255\\1\\206\\255\\0\\0\\1\\210\\255\\0\\0\\1')",
    "cmsgpack.unpack('\\217\\3abc\\218\\0\\2ab\\219\\0\\0\\0\\2ab\\160')",
    "cmsgpack.unpack('\\220\\0\\2\\1\\2\\222\\0\\1\\1\\2\\221\\0\\0\\0\\1\\3\\223\\0\\0\\0\\1\\4\\5')",
    "cmsgpack.unpack('\\147\\192\\1\\192'), cmsgpack.unpack('\\130\\1\\192\\2\\3')",
    "cmsgpack.unpack('')",
    "cmsgpack.unpack('\\193')",
    "cmsgpack.unpack('\\196\\1a')",
    "cmsgpack.unpack('\\199\\1\\1a')",
    "cmsgpack.unpack('\\146\\1')",
    "cmsgpack.unpack('\\205\\1')",
    "cmsgpack.unpack('\\219\\255\\255\\255\\255ab')",
    "cmsgpack.unpack('\\221\\255\\255\\255\\255')",
    "cmsgpack.unpack('\\129\\192\\1')",
    "cmsgpack.unpack('\\129\\192')",
    "cmsgpack.unpack('\\129\\203\\127\\248\\0\\0\\0\\0\\0\\1\\1')",
    "cmsgpack.unpack(5)",
    "cmsgpack.unpack()",
    "cmsgpack.unpack({})",
    "select('#', cmsgpack.unpack(string.rep('\\1', 7997)))",
    "cmsgpack.unpack(string.rep('\\1', 8100))",
    "#cmsgpack.unpack(string.rep('\\145', 3000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\145', 9000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\129\\1', 9000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\129\\145', 9000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\145', 3999) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\145', 4000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\129\\1', 3999) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\129\\1', 4000) .. '\\1')",
    "pcall(cmsgpack.unpack, string.rep('\\1', 4000) .. string.rep('\\129\\1', 2000) .. '\\1')",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2), cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), '1')",
    "cmsgpack.unpack_one('\\1', 'x')",
    "cmsgpack.unpack_one()",
    "cmsgpack.unpack_one('', 0)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2), cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0), cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 'x')",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 1, {})",
    "select('#', cmsgpack.unpack_limit(string.rep('\\1', 8100), 7996))",
    "cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION",
    # --- struct
    "struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^63, 7, -4, 2^32 - 1)",
    "struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 2^53 + 2, 7, -4, 2^32 - 1)",
    "struct.pack('i3i16I5', -2, -1, 2^40 - 1), struct.pack('>i3i16I5', -2, -1, 2^40 - 1), struct.pack('i0', 5)",
    "struct.pack('fd', 1.1, 1.1), struct.pack('>fd', 1/0, -1/0), struct.pack('<d', -0.0)",
    "struct.pack('<f', 1e39), struct.pack('<f', 1e-46), struct.pack('<f', 3e-45), struct.pack('<d', 2^-1074)",
    "struct.pack('<f', 16777217), struct.pack('<f', 0.1), struct.pack('<f', -3.4028235e38)",
    "struct.pack('>L', 2^64), struct.pack('>L', 2^70), struct.pack('>l', -2^70), struct.pack('>l', 0/0)",
    "struct.pack('>L', 1/0), struct.pack('>l', -1/0), struct.pack('>L', 2^64 - 2048), struct.pack('>l', -2^63)",
    "struct.pack('c', 'abc'), struct.pack('c2', 'abc'), struct.pack('c0', 'abc'), struct.pack('s', 'abc')",
    "struct.pack('s2', 'xyz'), struct.pack('c', 12), struct.pack('s', 1.5)",
    "struct.pack('c5', 'ab')",
    "struct.pack('bc', 1)",
    "struct.pack('!bi!2bhbd', 1, 2, 3, 4, 5, 6), struct.pack('!4bd', 1, 2), struct.pack('!b!1i', 1, 2)",
    "struct.pack('!8bi3', 1, 2), struct.pack('!8bl', 1, 2), struct.pack('!bT', 1, 2)",
    "struct.pack('!3b')",
    "struct.pack('!0b')",
    "struct.pack('z')",
    "struct.pack('5')",
    "struct.pack('i33')",
    "struct.pack('i99999999999')",
    "struct.pack('b')",
    "struct.pack('bb', 1)",
    "struct.pack('b', 'x')",
    "struct.pack('b', '12'), struct.pack('i', 2.7), struct.pack('i', -2.7), struct.pack('b', 300)",
    "struct.pack()",
    "struct.pack(5, 1)",
    "struct.pack('x b x', 1), struct.pack('b\\0b', 1, 2), struct.pack('')",
    "struct.unpack('bBhHlLTiI', struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^63, 7, -4, 2^32 - 1))",
    "struct.unpack('>i3i16I5', struct.pack('>i3i16I5', -2, -1, 2^40 - 1))",
    "struct.unpack('i9I9i12', string.rep('\\255', 9) .. string.rep('\\1', 9) .. string.rep('\\128', 12))",
    "struct.unpack('>i9I9i12', string.rep('\\255', 9) .. string.rep('\\1', 9) .. string.rep('\\128', 12))",
    "struct.unpack('i7i8l', '\\255\\255\\255\\255\\255\\255\\127'"
    " .. '\\0\\0\\0\\0\\0\\0\\0\\128' .. '\\1\\0\\0\\0\\0\\0\\0\\128')",
    "struct.unpack('fd', struct.pack('fd', 1.1, 1.1)), struct.unpack('>fd', struct.pack('>fd', 1/0, -1/0))",
    "struct.unpack('<f', '\\0\\0\\192\\127') ~= struct.unpack('<f', '\\0\\0\\192\\127')",
    "struct.unpack('<f', '\\1\\0\\0\\0')",
    "struct.unpack('bc0', '\\3abcd'), struct.unpack('c1c0', '3abcd')",
    "struct.unpack('c0', 'abc')",
    "struct.unpack('bc0', '\\9abc')",
    "struct.unpack('sb', 'ab\\0\\5'), struct.unpack('ss', 'a\\0\\0')",
    "struct.unpack('s', 'ab')",
    "struct.unpack('i', 'ab')",
    "struct.unpack('b', 'ab', 2), struct.unpack('', 'ab', 3), struct.unpack('', 'ab', 4), struct.unpack('', 'ab', -5)",
    "struct.unpack('b', 'ab', 0)",
    "struct.unpack('b', 'ab', -1)",
    "struct.unpack('b', 'ab', 3)",
    "struct.unpack('!4bi', '\\1\\0\\0\\0\\2\\0\\0\\0'), struct.unpack('xb', '\\1\\2')",
    "struct.unpack('>!2bh', '\\1\\0\\1\\2')",
    "struct.unpack('z', 'ab')",
    "struct.unpack('b')",
    "struct.unpack()",
    "struct.unpack('b', 'a', 'x')",
    "struct.size('bhi!4bi'), struct.size('!bd'), struct.size('c3'), struct.size('i16'), struct.size('zq5')",
    "struct.size('x'), struct.size(''), struct.size('>!8bd'), struct.size('!2bi3b')",
    "struct.size('s')",
    "struct.size('c0')",
    "struct.size('!3')",
    "struct.size('i40')",
    "struct.size()",
]

# Whole bodies: Redis's own tests of these libraries (tests/unit/scripting.tcl), as they run there.
BODIES: list[str] = [
    # EVAL - JSON smoke test
    """
    local some_map = {s1 = "Some string", n1 = 100, a1 = {"Some", "String", "Array"}, nil1 = nil,
      b1 = true, b2 = false}
    local encoded = cjson.encode(some_map)
    local decoded = cjson.decode(encoded)
    assert(table.concat(some_map) == table.concat(decoded))
    cjson.encode_keep_buffer(false)
    encoded = cjson.encode(some_map)
    decoded = cjson.decode(encoded)
    assert(table.concat(some_map) == table.concat(decoded))
    local table1 = {one = "one", [1] = "one"}
    encoded = cjson.encode(table1)
    decoded = cjson.decode(encoded)
    assert(decoded["one"] == table1["one"])
    assert(decoded["1"] == table1[1])
    local array1 = {[1] = "one", [2] = "two"}
    encoded = cjson.encode(array1)
    decoded = cjson.decode(encoded)
    assert(table.concat(array1) == table.concat(decoded))
    local invalid_map = {}
    invalid_map[false] = "false"
    local ok, e1 = pcall(cjson.encode, invalid_map)
    cjson.encode_max_depth(1)
    local ok2, e2 = pcall(cjson.encode, some_map)
    cjson.decode_max_depth(1)
    local ok3, e3 = pcall(cjson.decode, '{"obj": {"array": [1,2,3,4]}}')
    local ok4, e4 = pcall(cjson.encode, {num1 = 0/0})
    cjson.encode_invalid_numbers(true)
    local ok5, e5 = pcall(cjson.encode, {num1 = 0/0})
    return pack(encoded, ok, e1, ok2, e2, ok3, e3, ok4, e4, ok5, e5)
    """,
    # EVAL - cmsgpack pack/unpack smoke test
    """
    local str_lt_32 = string.rep("x", 30)
    local str_lt_255 = string.rep("x", 250)
    local str_lt_65535 = string.rep("x", 65530)
    local str_long = string.rep("x", 100000)
    local array_big = {}
    for i = 1, 100000 do array_big[i] = i end
    local map_big = {}
    for i = 1, 100000 do map_big[tostring(i)] = i end
    local some_map = {s1 = str_lt_32, s2 = str_lt_255, s3 = str_lt_65535, s4 = str_long, d1 = 0.1,
      i1 = 1, i2 = 250, i3 = 65530, i4 = 100000, i5 = 2^40, i6 = -1, i7 = -120, i8 = -32000,
      i9 = -100000, i10 = -3147483648, a1 = {1, 2, 3, 4, 5},
      a2 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, a3 = array_big,
      m1 = {a = 1, b = 2}, m2 = map_big, b1 = false, b2 = true, n = nil}
    local encoded = cmsgpack.pack(some_map)
    local decoded = cmsgpack.unpack(encoded)
    assert(table.concat(some_map) == table.concat(decoded))
    local offset, decoded_one = cmsgpack.unpack_one(encoded, 0)
    assert(table.concat(some_map) == table.concat(decoded_one))
    assert(offset == -1)
    local encoded_multiple = cmsgpack.pack(str_lt_32, str_lt_255, str_lt_65535, str_long)
    local offsets = {}
    local obj
    offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, 0)
    assert(obj == str_lt_32)
    offsets[1] = offset
    offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
    assert(obj == str_lt_255)
    offsets[2] = offset
    offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
    assert(obj == str_lt_65535)
    offsets[3] = offset
    offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
    assert(obj == str_long)
    offsets[4] = offset
    return pack(#encoded, #encoded_multiple, offsets, decoded.a2, decoded.m1, decoded.i10, decoded.i5)
    """,
    # EVAL - cmsgpack can pack and unpack circular references?
    """
    local a = {x = nil, y = 5}
    local b = {x = a}
    a["x"] = b
    local encoded = cmsgpack.pack(a)
    local h = ""
    for i = 1, #encoded do h = h .. string.format("%02x", string.byte(encoded, i)) end
    local re = cmsgpack.unpack(encoded)
    assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.y == re.y)
    assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x)
    assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x == nil)
    return pack(h, re.x.x.x.x.x.x.x.x.y == re.y, re.y == 5)
    """,
    # EVAL - Verify minimal bitop functionality
    """
    assert(bit.tobit(1) == 1)
    assert(bit.band(1) == 1)
    assert(bit.bxor(1, 2) == 3)
    assert(bit.bor(1, 2, 4, 8, 16, 32, 64, 128) == 255)
    return pack(true)
    """,
    # a BullMQ-style job: options packed with cmsgpack, data as JSON, and back
    """
    local opts = {attempts = 3, delay = 0, backoff = {type = "exponential", delay = 1000},
      removeOnComplete = true, jobId = "42", timestamp = 1700000000123, priority = 0, lifo = false}
    local packed = cmsgpack.pack(opts)
    local data = cjson.encode({user = "ann", items = {1, 2, 3}, note = "a/b \\"c\\"", price = 9.99})
    local back = cmsgpack.unpack(packed)
    local json = cjson.decode(data)
    return pack(packed, data, back, json, cjson.encode(back))
    """,
]


def _script(body: str) -> str:
    return PRELUDE + "return run(function()\n" + body + "\nend)"


CASES = [pytest.param("return pack(" + e + ")", id=e[:60]) for e in EXPRESSIONS] + [
    pytest.param(b, id=f"body{i}") for i, b in enumerate(BODIES)
]


@pytest.fixture(scope="module")
def reference(real_redis: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=real_redis.port)
    yield client
    client.close()


@pytest.mark.parametrize("body", CASES)
def test_same_as_redis(body: str, reference: redis.Redis) -> None:
    script = _script(body)
    reference.script_flush()  # a fresh Lua state: cjson's settings belong to one
    expected = reference.eval(script, 0)
    got = lua_with_libraries().execute(script, name="@user_script")
    assert got == expected


def test_cases_are_distinct() -> None:
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS)


# --- random values and texts, through both -------------------------------------------------------


def lua_string(data: bytes) -> str:
    """A Lua literal for any bytes (decimal escapes)."""
    return (
        '"' + "".join(chr(b) if b < 128 and (chr(b).isalnum() or chr(b) in " _-") else f"\\{b:03d}" for b in data) + '"'
    )


def lua_number(n: float) -> str:
    if n != n:
        return "(0/0)"
    if n in (float("inf"), float("-inf")):
        return "(1/0)" if n > 0 else "(-1/0)"
    return f"({n!r})"


scalars = (
    st.binary(max_size=40).map(lua_string)
    | st.integers(min_value=-(2**64), max_value=2**64).map(lambda i: lua_number(float(i)))
    | st.floats(allow_nan=False, width=64).map(lua_number)
    | st.floats(allow_nan=False, width=32).map(lua_number)
    | st.sampled_from(["true", "false", "cjson.null"])
)
keys = st.binary(max_size=12).map(lua_string) | st.integers(min_value=-3, max_value=40).map(str)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=8).map(lambda items: "{" + ", ".join(items) + "}")
        | st.lists(st.tuples(keys, inner), max_size=8).map(
            lambda pairs: "{" + ", ".join(f"[{k}] = {v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=30,
)


def same_as_redis(reference: redis.Redis, lua: Any, body: str) -> None:
    script = _script(body)
    reference.script_flush()
    assert lua.execute(script, name="@user_script") == reference.eval(script, 0), body


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(value=values)
def test_random_values_encode_the_same(reference: redis.Redis, value: str) -> None:
    # every encoding, and the decoding of what was encoded: JSON (with NaN and Inf as tokens)
    # and msgpack
    body = (
        f"local v = {value}\n"
        "cjson.encode_invalid_numbers(true)\n"
        "local ok1, j = pcall(cjson.encode, v)\n"
        "local ok2, m = pcall(cmsgpack.pack, v)\n"
        "return pack(ok1, j, ok1 and {pcall(cjson.decode, j)}, ok2, m, ok2 and {pcall(cmsgpack.unpack, m)})"
    )
    same_as_redis(reference, lua_with_libraries(), body)


json_texts = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=20,
).map(json.dumps)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(text=json_texts, cut=st.integers(min_value=0, max_value=200), junk=st.binary(max_size=3))
def test_random_json_decodes_the_same(reference: redis.Redis, text: str, cut: int, junk: bytes) -> None:
    # valid JSON, and the same cut short or with bytes put in: the same values or the same error
    data = text.encode()
    broken = data[:cut] + junk + data[cut:]
    body = (
        f"local a = {{pcall(cjson.decode, {lua_string(data)})}}\n"
        f"local b = {{pcall(cjson.decode, {lua_string(broken)})}}\n"
        f"local c = {{pcall(cmsgpack.unpack, {lua_string(broken)})}}\n"
        "return pack(a, b, c)"
    )
    same_as_redis(reference, lua_with_libraries(), body)


numbers = (
    st.integers(min_value=-(2**70), max_value=2**70).map(float)
    | st.floats(allow_nan=False, min_value=-1e20, max_value=1e20)
    | st.sampled_from([0.5, 1.5, 2.5, -0.5, 2**31, 2**32, -(2**31), 2**52 + 0.5, 1e300])
).map(lua_number)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    args=st.lists(numbers, min_size=1, max_size=4),
    op=st.sampled_from(["tobit", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror", "bswap"]),
)
def test_random_bit_operations(reference: redis.Redis, args: list[str], op: str) -> None:
    body = f"return pack(pcall(bit.{op}, {', '.join(args)}), bit.tohex({args[0]}, {len(args) * 3 - 6}))"
    same_as_redis(reference, lua_with_libraries(), body)


options = st.sampled_from(["b", "B", "h", "H", "l", "L", "T", "i", "I", "i3", "I7", "i12", "f", "d", "x", "c2", "s"])
controls = st.sampled_from(["<", ">", "!", "!2", "!4", " "])


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    items=st.lists(st.tuples(controls | options, numbers), min_size=1, max_size=6),
    text=st.binary(max_size=6),
)
def test_random_struct_formats(reference: redis.Redis, items: list[tuple[str, str]], text: bytes) -> None:
    fmt = "".join(option for option, _ in items)
    values = [lua_string(text) if option[0] in "cs" else value for option, value in items if option[0] not in "<>! x"]
    body = (
        f"local ok, p = pcall(struct.pack, '{fmt}', {', '.join(values) or 'nil'})\n"
        f"return pack(ok, p, ok and {{pcall(struct.unpack, '{fmt}', p)}}, pcall(struct.size, '{fmt}'))"
    )
    same_as_redis(reference, lua_with_libraries(), body)
