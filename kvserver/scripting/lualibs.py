"""The Lua libraries Redis 7.0 embeds in its scripting engine: ``bit``, ``cjson``, ``cmsgpack``
and ``struct``, written in Lua 5.1 so that a script's calls never cross into Python.

Redis compiles these as C (LuaBitOp 1.0.2, lua-cjson 2.1.0, lua-cmsgpack 0.4.0, lua-struct 0.2);
lupa's Lua 5.1 cannot load C modules, so each library is re-implemented here with the behaviour of
Redis 7.0.15's ``deps/lua/src/lua_*.c``: the same encodings byte for byte, the same number
conversions (32-bit wrap of ``bit``, ``%.14g`` of cjson, the float/double choice of cmsgpack,
the two's complement integers of struct), and the same error texts. Pure Lua keeps a call cheap
(no Lua table crosses to Python and back), keeps the work inside the Lua state's memory cap and
under the engine's instruction hook, and leaves no Python object reachable from a script.

Errors are raised at the level of the script's call, as ``luaL_error`` in a C function does
(``user_script:1: bad argument #1 to 'band' ...``, the function named as the caller called it).
Known differences from the C libraries: a library call in a tail position (``return
bit.band(nil)``) loses the ``user_script:N:`` prefix and is named ``'?'``, since Lua 5.1 drops the
caller's frame for a tail call; ``cjson.null`` is a full userdata made by ``newproxy`` (Lua code
cannot make the C library's NULL light userdata; ``tostring`` shows an address, not ``(nil)``);
``cmsgpack.unpack`` returns at most 7997 values (Redis 7998, the C stack's limit, minus the
arguments of Lua's ``unpack``); NaN payloads are not kept (a NaN read back is Lua's, with its sign).

``install(lua)`` runs the libraries in a ``lupa.lua51.LuaRuntime`` and sets the four globals;
call it before the sandbox locks the globals (the libraries keep their own references to the
standard functions they use, so a sandbox may remove those from the globals afterwards).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["LIBRARIES", "install"]

LIBRARIES: Final = ("bit", "cjson", "cmsgpack", "struct")

# Shared by the four libraries: the standard functions they use, captured before any sandbox, the
# argument checks of lauxlib (luaL_checknumber, luaL_checklstring, luaL_checkinteger), the 32-bit
# unsigned operations of `bit`, and IEEE 754 float/double <-> bytes without string.pack (5.3+).
_PRELUDE: Final = r"""
local type, tonumber, select, error, pcall = type, tonumber, select, error, pcall
local next, getmetatable, setmetatable, unpack = next, getmetatable, setmetatable, unpack
local rawget, rawset, newproxy = rawget, rawset, newproxy
local floor, frexp, huge = math.floor, math.frexp, math.huge
local sbyte, schar, sfmt, ssub, sfind, sgsub, srep, slower =
  string.byte, string.char, string.format, string.sub, string.find, string.gsub, string.rep, string.lower
local concat = table.concat
local reverse = string.reverse

local TWO31, TWO32 = 2147483648, 4294967296
local POW2 = {}
for i = 0, 64 do POW2[i] = 2 ^ i end
local P149, P537 = 2 ^ 149, 2 ^ 537

-- a C (int) cast of an integral number
local function toint32(n)
  n = n % TWO32
  if n >= TWO31 then n = n - TWO32 end
  return n
end

-- lua_typename of argument i of a call that got nargs arguments
local function argtype(v, i, nargs)
  if i > nargs then return "no value" end
  return type(v)
end

-- luaL_argerror: raised `level` frames up from the caller (the library function's caller), naming
-- the library function as its caller called it (as Lua does: '?' when pcall called it directly)
local getinfo = debug and debug.getinfo
local function argerror(level, narg, fname, msg)
  local ar = getinfo and getinfo(level, "n")
  if ar then
    if ar.namewhat == "method" then
      narg = narg - 1
      if narg == 0 then error(sfmt("calling '%s' on bad self (%s)", ar.name, msg), level + 1) end
    end
    fname = ar.name or "?"
  end
  error(sfmt("bad argument #%d to '%s' (%s)", narg, fname, msg), level + 1)
end

-- luaL_checknumber: numbers and numeric strings; raised `level` frames up
local function checknumber(v, i, nargs, fname, level)
  if type(v) == "number" then return v end
  local n = tonumber(v)
  if n == nil or i > nargs then
    argerror(level + 1, i, fname, "number expected, got " .. argtype(v, i, nargs))
  end
  return n
end

-- luaL_checkinteger: lua_tointeger truncates toward zero (lua_Integer is 64-bit)
local function checkinteger(v, i, nargs, fname, level)
  local n = v
  if type(n) ~= "number" then n = tonumber(v) end
  if n == nil or i > nargs then
    argerror(level + 1, i, fname, "number expected, got " .. argtype(v, i, nargs))
  end
  if n >= 0 then return floor(n) end
  return -floor(-n)
end

-- luaL_checklstring: strings, and numbers converted with LUA_NUMBER_FMT
local function checkstring(v, i, nargs, fname, level)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return sfmt("%.14g", v) end
  argerror(level + 1, i, fname, "string expected, got " .. argtype(v, i, nargs))
end

-- ---- 32-bit unsigned operations on doubles in [0, 2^32) ----
local AND4, OR4, XOR4 = {}, {}, {}
for a = 0, 15 do
  for b = 0, 15 do
    local r1, r2, r3, p, x, y = 0, 0, 0, 1, a, b
    for _ = 1, 4 do
      local xa, yb = x % 2, y % 2
      if xa == 1 and yb == 1 then r1 = r1 + p end
      if xa == 1 or yb == 1 then r2 = r2 + p end
      if xa ~= yb then r3 = r3 + p end
      x, y, p = (x - xa) / 2, (y - yb) / 2, p * 2
    end
    AND4[a * 16 + b + 1], OR4[a * 16 + b + 1], XOR4[a * 16 + b + 1] = r1, r2, r3
  end
end

-- a bitwise operation nibble by nibble through its 16x16 table; `rest` is 1 when bits of one
-- operand beyond the other's width survive (or, xor), 0 when they do not (and)
local function nibbles(T, rest, a, b)
  local r, p = 0, 1
  while a > 0 and b > 0 do
    local x, y = a % 16, b % 16
    r = r + T[x * 16 + y + 1] * p
    a, b, p = (a - x) / 16, (b - y) / 16, p * 16
  end
  return r + (a + b) * p * rest
end

local function band2(a, b) return nibbles(AND4, 0, a, b) end
local function bor2(a, b) return nibbles(OR4, 1, a, b) end
local function bxor2(a, b) return nibbles(XOR4, 1, a, b) end

-- ---- IEEE 754 ----
local NAN = 0 / 0
local NEG_NAN, POS_NAN = NAN, -NAN
if ssub(sfmt("%f", NAN), 1, 1) ~= "-" then NEG_NAN, POS_NAN = -NAN, NAN end

local function negative(n)  -- the sign bit, -0.0 and NaN included
  if n < 0 then return true end
  if n > 0 then return false end
  return ssub(sfmt("%f", n), 1, 1) == "-"
end

-- round half to even of a non-negative double
local function rint(q)
  local f = floor(q)
  local d = q - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

-- (float)n as a 32-bit pattern (round to nearest even, overflow to infinity)
local function float_bits(n)
  local sign = negative(n) and TWO31 or 0
  if n ~= n then return sign + 0x7FC00000 end
  if n < 0 then n = -n end
  if n == huge then return sign + 0x7F800000 end
  if n == 0 then return sign end
  local m, e = frexp(n)
  if e < -125 then  -- subnormal (or rounds up to the smallest normal)
    return sign + rint(n * P149)
  end
  local r = rint(m * 16777216)
  if r == 16777216 then r, e = 8388608, e + 1 end
  if e > 128 then return sign + 0x7F800000 end
  return sign + (e + 126) * 8388608 + (r - 8388608)
end

-- a double as (hi, lo) 32-bit halves of its pattern
local function double_bits(n)
  local sign = negative(n) and TWO31 or 0
  if n ~= n then return sign + 0x7FF80000, 0 end
  if n < 0 then n = -n end
  if n == huge then return sign + 0x7FF00000, 0 end
  if n == 0 then return sign, 0 end
  local m, e = frexp(n)
  local mant, ex
  if e < -1021 then
    mant, ex = n * P537 * P537, 0
  else
    mant, ex = m * POW2[53] - POW2[52], e + 1022
  end
  local hi = floor(mant / TWO32)
  return sign + ex * 1048576 + hi, mant - hi * TWO32
end

local function float_from_bits(b)
  local sign = 1
  if b >= TWO31 then sign, b = -1, b - TWO31 end
  local ex = floor(b / 8388608)
  local mant = b - ex * 8388608
  if ex == 255 then
    if mant == 0 then return sign * huge end
    return sign < 0 and NEG_NAN or POS_NAN
  end
  if ex == 0 then return sign * mant * 2 ^ -149 end
  return sign * (mant + 8388608) * 2 ^ (ex - 150)
end

local function double_from_bits(hi, lo)
  local sign = 1
  if hi >= TWO31 then sign, hi = -1, hi - TWO31 end
  local ex = floor(hi / 1048576)
  local mant = (hi - ex * 1048576) * TWO32 + lo
  if ex == 2047 then
    if mant == 0 then return sign * huge end
    return sign < 0 and NEG_NAN or POS_NAN
  end
  if ex == 0 then return sign * mant * 2 ^ -1074 end
  return sign * (mant + POW2[52]) * 2 ^ (ex - 1075)
end

-- byte strings of 32-bit words
local function be32(v)
  local b3 = floor(v / 16777216)
  local b2 = floor(v / 65536) % 256
  local b1 = floor(v / 256) % 256
  return schar(b3, b2, b1, v % 256)
end

local ERRMT = {}
local function throw(msg) error(setmetatable({msg}, ERRMT), 0) end
-- an error caught by pcall: the library's own (throw) re-raised `level` frames above the caller
-- (2: the script's call of the library function that calls rethrow); any other error (out of
-- memory, the engine's hook) passes through unchanged
local function rethrow(e, level)
  if getmetatable(e) == ERRMT then error(e[1], level + 1) end
  error(e, 0)
end
"""

# LuaBitOp 1.0.2 (lua_bit.c): numbers are converted to 32 bits as barg does, by adding 2^52+2^51
# and taking the low word of the double; results are signed 32-bit numbers.
_BIT: Final = r"""
local MAGIC = 6755399441055744.0

local function tobit_u(n)
  if n >= -2251799813685248 and n <= 2251799813685248 then
    return ((n + MAGIC) - MAGIC) % TWO32
  end
  local s = n + MAGIC
  if s ~= s or s == huge or s == -huge or s == 0 then return 0 end
  if s < 0 then s = -s end
  local m = frexp(s)
  return (m * POW2[53] - POW2[52]) % TWO32
end

-- barg: the argument as an unsigned 32-bit number; an error names the script's call (level 3)
local function barg(v, i, nargs, fname)
  if type(v) == "number" then return tobit_u(v) end
  local n = tonumber(v)
  if n == nil or i > nargs then
    argerror(3, i, fname, "number expected, got " .. argtype(v, i, nargs))
  end
  return tobit_u(n)
end

local function sres(b)
  if b >= TWO31 then return b - TWO32 end
  return b
end

local bit = {}

function bit.tobit(...)
  local b = barg((...), 1, select("#", ...), "tobit")
  return sres(b)
end

function bit.bnot(...)
  local b = barg((...), 1, select("#", ...), "bnot")
  return sres(TWO32 - 1 - b)
end

local function varop(op, fname)
  return function(...)
    local nargs = select("#", ...)
    local a, b = ...
    local r = barg(a, 1, nargs, fname)
    if nargs >= 2 then
      local y = barg(b, 2, nargs, fname)
      r = op(r, y)
      for i = 3, nargs do
        y = barg((select(i, ...)), i, nargs, fname)
        r = op(r, y)
      end
    end
    return sres(r)
  end
end
bit.band = varop(band2, "band")
bit.bor = varop(bor2, "bor")
bit.bxor = varop(bxor2, "bxor")

local function shiftop(fname, f)
  return function(...)
    local nargs = select("#", ...)
    local a, s = ...
    local b = barg(a, 1, nargs, fname)
    local n = barg(s, 2, nargs, fname) % 32
    return sres(f(b, n))
  end
end
bit.lshift = shiftop("lshift", function(b, n) return (b * POW2[n]) % TWO32 end)
bit.rshift = shiftop("rshift", function(b, n) return floor(b / POW2[n]) end)
bit.arshift = shiftop("arshift", function(b, n) return floor(sres(b) / POW2[n]) % TWO32 end)
bit.rol = shiftop("rol", function(b, n)
  if n == 0 then return b end
  return (b * POW2[n]) % TWO32 + floor(b / POW2[32 - n])
end)
bit.ror = shiftop("ror", function(b, n)
  if n == 0 then return b end
  return floor(b / POW2[n]) + (b * POW2[32 - n]) % TWO32
end)

function bit.bswap(...)
  local b = barg((...), 1, select("#", ...), "bswap")
  local b0, b1, b2 = b % 256, floor(b / 256) % 256, floor(b / 65536) % 256
  local b3 = floor(b / 16777216)
  return sres(((b0 * 256 + b1) * 256 + b2) * 256 + b3)
end

function bit.tohex(...)
  local nargs = select("#", ...)
  local a, w = ...
  local b = barg(a, 1, nargs, "tohex")
  local n = 8
  if nargs >= 2 then n = sres(barg(w, 2, nargs, "tohex")) end
  local conv = "x"
  if n < 0 then n, conv = -n, "X" end
  if n > 8 then n = 8 end
  if n <= 0 then return "" end
  return sfmt("%0" .. n .. conv, b % POW2[4 * n])
end
"""

# lua-cjson 2.1.0 (lua_cjson.c, fpconv.c) with Redis's defaults: numbers as %.14g, '/' escaped,
# tables as arrays when their keys are 1..n (sparse rules), nesting limited to 1000 both ways,
# and decoding as the C tokenizer does (C strings: input ends at the first NUL; strtod numbers).
_CJSON: Final = r"""
local NULL = newproxy(false)

local ESCAPES = {}
for i = 0, 31 do ESCAPES[schar(i)] = sfmt("\\u%04x", i) end
ESCAPES["\b"], ESCAPES["\t"], ESCAPES["\n"], ESCAPES["\f"], ESCAPES["\r"] = "\\b", "\\t", "\\n", "\\f", "\\r"
ESCAPES['"'], ESCAPES["\\"], ESCAPES["/"], ESCAPES["\127"] = '\\"', "\\\\", "\\/", "\\u007f"
local ESCAPE_PATTERN = '[%z\1-\31"/\\\127]'

-- short strings' encodings (as values, and as keys with their colon), kept until 1024 of them
local STRINGS, KEYS, CACHED = {}, {}, 0

local function escape(s)
  if sfind(s, ESCAPE_PATTERN) then s = sgsub(s, ESCAPE_PATTERN, ESCAPES) end
  return '"' .. s .. '"'
end

local function enc_string(s)
  local e = STRINGS[s]
  if e then return e end
  e = escape(s)
  if #s <= 64 then
    if CACHED >= 1024 then STRINGS, KEYS, CACHED = {}, {}, 0 end
    STRINGS[s], CACHED = e, CACHED + 1
  end
  return e
end

local function enc_key(s)
  local e = KEYS[s]
  if e then return e end
  e = enc_string(s) .. ":"
  if #s <= 64 then KEYS[s] = e end  -- bounded with STRINGS, which has s too
  return e
end

local function enc_number(cfg, num)
  -- %.14g of an integer of up to 14 digits is %d, which is twice as fast (and -0 is not one)
  if num == floor(num) and num < cfg.intmax and num > -cfg.intmax and num ~= 0 then return sfmt("%d", num) end
  if num ~= num or num == huge or num == -huge then
    local inv = cfg.encode_invalid
    if inv == 0 then throw("Cannot serialise number: must not be NaN or Inf") end
    if inv == 2 then return "null" end
    if num ~= num then return "nan" end
  end
  return sfmt(cfg.numfmt, num)
end

-- lua_array_length: the array size, or -1 for an object; C keeps `max` in an int
local function array_length(cfg, t)
  local max, items = 0, 0
  for k in next, t do
    if type(k) == "number" and k ~= 0 and floor(k) == k and k >= 1 then
      if k > max then
        if k > 2147483647 then max = -2147483648 else max = k end
      end
      items = items + 1
    else
      return -1
    end
  end
  if cfg.sparse_ratio > 0 and max > items * cfg.sparse_ratio and max > cfg.sparse_safe then
    if cfg.sparse_convert == 0 then throw("Cannot serialise table: excessively sparse array") end
    return -1
  end
  return max
end

local encode_value

-- `slots`: the Lua stack the C encoder would hold here (1 per enclosing array, 2 per object);
-- lua_checkstack refuses beyond LUAI_MAXCSTACK (8000), which bounds even a raised max depth
local function encode_table(cfg, t, depth, slots, buf, n)
  depth = depth + 1
  if depth > cfg.encode_max_depth or slots + 3 > 8000 then
    throw(sfmt("Cannot serialise, excessive nesting (%d)", depth))
  end
  local len = array_length(cfg, t)
  if len > 0 then
    n = n + 1; buf[n] = "["
    for i = 1, len do
      if i > 1 then n = n + 1; buf[n] = "," end
      n = encode_value(cfg, rawget(t, i), depth, slots + 1, buf, n)
    end
    n = n + 1; buf[n] = "]"
    return n
  end
  n = n + 1; buf[n] = "{"
  local comma = false
  for k, v in next, t do
    if comma then n = n + 1; buf[n] = "," else comma = true end
    local kt = type(k)
    if kt == "string" then
      n = n + 1; buf[n] = enc_key(k)
    elseif kt == "number" then
      n = n + 1; buf[n] = '"' .. enc_number(cfg, k) .. '":'
    else
      throw("Cannot serialise " .. kt .. ": table key must be a number or string")
    end
    n = encode_value(cfg, v, depth, slots + 2, buf, n)
  end
  n = n + 1; buf[n] = "}"
  return n
end

encode_value = function(cfg, v, depth, slots, buf, n)
  local t = type(v)
  if t == "string" then
    n = n + 1; buf[n] = enc_string(v)
  elseif t == "number" then
    n = n + 1; buf[n] = enc_number(cfg, v)
  elseif t == "boolean" then
    n = n + 1; buf[n] = v and "true" or "false"
  elseif t == "table" then
    return encode_table(cfg, v, depth, slots, buf, n)
  elseif v == nil or v == NULL then
    n = n + 1; buf[n] = "null"
  else
    throw("Cannot serialise " .. t .. ": type not supported")
  end
  return n
end

local function do_encode(cfg, v)
  local t = type(v)
  if t == "string" then return enc_string(v) end
  if t == "number" then return enc_number(cfg, v) end
  local buf = {}
  local n = encode_value(cfg, v, 0, 1, buf, 0)
  return concat(buf, "", 1, n)
end

-- ---- decoding ----
local T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END = "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END"
local T_STRING, T_NUMBER, T_BOOLEAN, T_NULL = "T_STRING", "T_NUMBER", "T_BOOLEAN", "T_NULL"
local T_COLON, T_COMMA, T_END, T_ERROR = "T_COLON", "T_COMMA", "T_END", "T_ERROR"
local SINGLE = {
  [123] = T_OBJ_BEGIN, [125] = T_OBJ_END, [91] = T_ARR_BEGIN, [93] = T_ARR_END,
  [44] = T_COMMA, [58] = T_COLON,
}
local UNESCAPE = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [116] = "\t", [110] = "\n", [102] = "\f", [114] = "\r",
}

-- the decoder's state: one decode runs at a time (it calls no Lua code of the script's)
local S, P, LEN, CFG, DEPTH, SLOTS

local function hex4(i)
  local h = ssub(S, i, i + 3)
  if #h < 4 or sfind(h, "%X") then return nil end
  return tonumber(h, 16)
end

local function utf8(cp)
  if cp <= 0x7F then return schar(cp) end
  if cp <= 0x7FF then return schar(floor(cp / 64) + 0xC0, cp % 64 + 0x80) end
  if cp <= 0xFFFF then
    return schar(floor(cp / 4096) + 0xE0, floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
  end
  return schar(floor(cp / 262144) + 0xF0, floor(cp / 4096) % 64 + 0x80, floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
end

-- a string token at P (the opening quote): T_STRING, value; or T_ERROR, message, 0-based index
local function string_token()
  local parts, np = nil, 0
  local i = P + 1
  while true do
    local q = sfind(S, '["\\]', i)
    if q == nil then return T_ERROR, "unexpected end of string", LEN end
    if sbyte(S, q) == 34 then
      local last = ssub(S, i, q - 1)
      P = q + 1
      if parts == nil then return T_STRING, last end
      np = np + 1; parts[np] = last
      return T_STRING, concat(parts, "", 1, np)
    end
    parts = parts or {}
    if q > i then np = np + 1; parts[np] = ssub(S, i, q - 1) end
    local e = sbyte(S, q + 1)
    if e == 117 then  -- \u
      local cp = hex4(q + 2)
      if cp == nil then return T_ERROR, "invalid unicode escape code", q - 1 end
      local esclen = 6
      if cp >= 0xD800 and cp <= 0xDFFF then
        if cp >= 0xDC00 or ssub(S, q + 6, q + 7) ~= "\\u" then
          return T_ERROR, "invalid unicode escape code", q - 1
        end
        local low = hex4(q + 8)
        if low == nil or low < 0xDC00 or low > 0xDFFF then
          return T_ERROR, "invalid unicode escape code", q - 1
        end
        cp = (cp - 0xD800) * 1024 + (low - 0xDC00) + 0x10000
        esclen = 12
      end
      np = np + 1; parts[np] = utf8(cp)
      i = q + esclen
    else
      local c = e and UNESCAPE[e]
      if c == nil then return T_ERROR, "invalid escape code", q - 1 end
      np = np + 1; parts[np] = c
      i = q + 2
    end
  end
end

-- json_is_invalid_number: forms strtod accepts that strict JSON does not
local function is_invalid_number(p)
  local c = sbyte(S, p)
  if c == 43 then return true end
  if c == 45 then p = p + 1; c = sbyte(S, p) end
  if c == 48 then
    local c2 = sbyte(S, p + 1)
    return c2 == 120 or c2 == 88 or (c2 ~= nil and c2 >= 48 and c2 <= 57)
  end
  if c == nil or c <= 57 then return false end
  local w = slower(ssub(S, p, p + 2))
  return w == "inf" or w == "nan"
end

-- strtod at P: the length of the longest prefix it converts (0: none)
local function strtod_len(p)
  local i = p
  local c = sbyte(S, i)
  if c == 43 or c == 45 then i = i + 1 end
  local _, e = sfind(S, "^0[xX]%x*%.?%x*", i)
  if e and sfind(ssub(S, i + 2, e), "%x") then
    local _, pe = sfind(S, "^[pP][+-]?%d+", e + 1)
    return (pe or e) - p + 1
  end
  _, e = sfind(S, "^%d*%.?%d*", i)
  if e >= i and sfind(ssub(S, i, e), "%d") then
    local _, ee = sfind(S, "^[eE][+-]?%d+", e + 1)
    return (ee or e) - p + 1
  end
  local w = slower(ssub(S, i, i + 7))
  if w == "infinity" then return i + 8 - p end
  w = ssub(w, 1, 3)
  if w == "inf" then return i + 3 - p end
  if w == "nan" then
    local _, pe = sfind(S, "^%([%w_]*%)", i + 3)
    return (pe or i + 2) - p + 1
  end
  return 0
end

local function number_token()
  local l = strtod_len(P)
  if l == 0 then return T_ERROR, "invalid number", P - 1 end
  local v = tonumber(ssub(S, P, P + l - 1))
  P = P + l
  return T_NUMBER, v
end

-- the next token: type, value, 0-based index (json_next_token)
local WHITESPACE = {[32] = true, [9] = true, [10] = true, [13] = true}
-- what may follow a number that strtod ends where the pattern ^-?%d+%.?%d* does (unless it
-- ends with the dot: "1." is a number, and strtod takes it, but a rare one)
local NUMBER_END = {[44] = true, [93] = true, [125] = true, [32] = true, [9] = true, [10] = true, [13] = true}

local function next_token()
  local p = P
  local c = sbyte(S, p)
  if c == nil then return T_END, nil, LEN end
  if WHITESPACE[c] then
    p = sfind(S, "[^ \t\n\r]", p)
    if p == nil then P = LEN + 1; return T_END, nil, LEN end
    P = p
    c = sbyte(S, p)
  end
  local t = SINGLE[c]
  if t then P = p + 1; return t, nil, p - 1 end
  if c == 34 then
    local tt, v, idx = string_token()
    return tt, v, idx or p - 1
  end
  if c == 45 or (c >= 48 and c <= 57) then
    if CFG.decode_invalid == 0 and is_invalid_number(p) then return T_ERROR, "invalid number", p - 1 end
    local _, e, num = sfind(S, "^(-?%d+%.?%d*)", p)
    if e then
      local nc = sbyte(S, e + 1)
      if (nc == nil or NUMBER_END[nc]) and sbyte(S, e) ~= 46 then
        P = e + 1
        return T_NUMBER, tonumber(num), p - 1
      end
    end
    local tt, v, idx = number_token()
    return tt, v, idx or p - 1
  end
  if c == 116 and ssub(S, p, p + 3) == "true" then P = p + 4; return T_BOOLEAN, true, p - 1 end
  if c == 102 and ssub(S, p, p + 4) == "false" then P = p + 5; return T_BOOLEAN, false, p - 1 end
  if c == 110 and ssub(S, p, p + 3) == "null" then P = p + 4; return T_NULL, nil, p - 1 end
  if (c == 43 or c == 105 or c == 73 or c == 110 or c == 78) and CFG.decode_invalid == 1 and is_invalid_number(p) then
    local tt, v, idx = number_token()
    return tt, v, idx or p - 1
  end
  return T_ERROR, "invalid token", p - 1
end

local function parse_error(expected, t, v, idx)
  local found = t
  if t == T_ERROR then found = v end
  throw(sfmt("Expected %s but found %s at character %d", expected, found, idx + 1))
end

-- SLOTS: the Lua stack the C decoder would hold (1 per enclosing array, 2 per object)
local function descend(slots)
  DEPTH = DEPTH + 1
  if DEPTH > CFG.decode_max_depth or SLOTS + slots > 8000 then
    throw(sfmt("Found too many nested data structures (%d) at character %d", DEPTH, P - 1))
  end
end

local parse_value

-- into an object or array, which holds `held` slots while its members are parsed: its first
-- token, or nothing when the next token closes it at once
local function enter(held, closer)
  descend(held + 1)
  local t, v, idx = next_token()
  if t == closer then DEPTH = DEPTH - 1; return nil end
  SLOTS = SLOTS + held
  return t, v, idx
end

-- after a member of an object or array (holding `held` slots): true when the container ends
-- there, false after a comma. The single-character tokens are read at once when no whitespace
-- precedes them, else through next_token (which also makes the error when they are not there).
local function after_member(closer, closer_token, held, expected)
  local c = sbyte(S, P)
  if c == 44 then P = P + 1; return false end
  if c == closer then
    P = P + 1
    DEPTH, SLOTS = DEPTH - 1, SLOTS - held
    return true
  end
  local t, v, idx = next_token()
  if t == closer_token then
    DEPTH, SLOTS = DEPTH - 1, SLOTS - held
    return true
  end
  if t ~= T_COMMA then parse_error(expected, t, v, idx) end
  return false
end

-- a key without escapes and its colon, a string value without escapes: read by one pattern,
-- the general tokenizer for anything else (so errors are always its own)
local PLAIN_KEY = '^"([^"\\]*)"[ \t\n\r]*:'
local PLAIN_STRING = '^"([^"\\]*)"'

local function parse_object()
  local obj = {}
  local t, v, idx = enter(2, T_OBJ_END)
  if t == nil then return obj end
  local key
  while true do
    if key == nil then
      if t ~= T_STRING then parse_error("object key string", t, v, idx) end
      key = v
      if sbyte(S, P) == 58 then
        P = P + 1
      else
        t, v, idx = next_token()
        if t ~= T_COLON then parse_error("colon", t, v, idx) end
      end
    end
    local _, e, s = sfind(S, PLAIN_STRING, P)
    if e then
      P = e + 1
      rawset(obj, key, s)
    else
      rawset(obj, key, parse_value(next_token()))
    end
    if after_member(125, T_OBJ_END, 2, "comma or object end") then return obj end
    _, e, key = sfind(S, PLAIN_KEY, P)
    if e then P = e + 1 else t, v, idx = next_token() end
  end
end

local function parse_array()
  local arr = {}
  local t, v, idx = enter(1, T_ARR_END)
  if t == nil then return arr end
  local i = 1
  while true do
    rawset(arr, i, parse_value(t, v, idx))
    if after_member(93, T_ARR_END, 1, "comma or array end") then return arr end
    i = i + 1
    local _, e, s = sfind(S, PLAIN_STRING, P)
    while e do
      P = e + 1
      rawset(arr, i, s)
      if after_member(93, T_ARR_END, 1, "comma or array end") then return arr end
      i = i + 1
      _, e, s = sfind(S, PLAIN_STRING, P)
    end
    t, v, idx = next_token()
  end
end

parse_value = function(t, v, idx)
  if t == T_STRING or t == T_NUMBER or t == T_BOOLEAN then return v end
  if t == T_OBJ_BEGIN then return parse_object() end
  if t == T_ARR_BEGIN then return parse_array() end
  if t == T_NULL then return NULL end
  parse_error("value", t, v, idx)
end

local function do_decode(cfg, s)
  if #s >= 2 and (sbyte(s, 1) == 0 or sbyte(s, 2) == 0) then
    throw("JSON parser does not support UTF-16 or UTF-32")
  end
  local z = sfind(s, "%z")
  if z then s = ssub(s, 1, z - 1) end
  S, P, LEN, CFG, DEPTH, SLOTS = s, 1, #s, cfg, 0, 1
  local value = parse_value(next_token())
  local t, v, idx = next_token()
  if t ~= T_END then parse_error("the end", t, v, idx) end
  S = nil
  return value
end

-- ---- configuration (json_integer_option, json_enum_option) ----

local function int_option(v, i, nargs, fname, min, max, cur)
  if v == nil then return cur end
  local n = toint32(checkinteger(v, i, nargs, fname, 3))
  if n < min or n > max then
    argerror(3, 1, fname, sfmt("expected integer between %d and %d", min, max))
  end
  return n
end

local function enum_option(v, fname, options, cur)
  if v == nil then return cur end
  if type(v) == "boolean" then return v and 1 or 0 end
  local name = checkstring(v, 1, 1, fname, 3)
  for i = 1, #options do
    if options[i] == name then return i - 1 end
  end
  argerror(3, 1, fname, sfmt("invalid option '%s'", name))
end

-- what a setting reads back as: a boolean for off/on, else the option's name
local function enum_value(setting, options)
  if setting == 0 or setting == 1 then return setting == 1 end
  return options[setting + 1]
end

local BOOL_OPTIONS = {"off", "on"}
local INVALID_OPTIONS = {"off", "on", "null"}

local function too_many(nargs, max, fname)
  if nargs > max then
    argerror(3, max + 1, fname, "found too many arguments")
  end
end

local new_cjson
new_cjson = function()
  local cfg = {
    sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10,
    encode_max_depth = 1000, decode_max_depth = 1000,
    encode_invalid = 0, decode_invalid = 1, keep_buffer = 1,
    precision = 14, numfmt = "%.14g", intmax = 1e14,
  }
  local cjson = {}

  function cjson.encode(...)
    if select("#", ...) ~= 1 then argerror(2, 1, "encode", "expected 1 argument") end
    local ok, r = pcall(do_encode, cfg, (...))
    if ok then return r end
    rethrow(r, 2)
  end

  function cjson.decode(...)
    local nargs = select("#", ...)
    if nargs ~= 1 then argerror(2, 1, "decode", "expected 1 argument") end
    local s = checkstring((...), 1, nargs, "decode", 2)
    local ok, r = pcall(do_decode, cfg, s)
    if ok then return r end
    S = nil
    rethrow(r, 2)
  end

  -- the getter/setters of one setting: (value) -> the setting now
  local function int_setting(fname, key, min, max)
    return function(...)
      local nargs = select("#", ...)
      too_many(nargs, 1, fname)
      cfg[key] = int_option((...), 1, nargs, fname, min, max, cfg[key])
      cfg.numfmt, cfg.intmax = "%." .. cfg.precision .. "g", 10 ^ cfg.precision
      return cfg[key]
    end
  end
  local function enum_setting(fname, key, options)
    return function(...)
      too_many(select("#", ...), 1, fname)
      cfg[key] = enum_option((...), fname, options, cfg[key])
      return enum_value(cfg[key], options)
    end
  end

  function cjson.encode_sparse_array(...)
    local nargs = select("#", ...)
    too_many(nargs, 3, "encode_sparse_array")
    local convert, ratio, safe = ...
    cfg.sparse_convert = enum_option(convert, "encode_sparse_array", BOOL_OPTIONS, cfg.sparse_convert)
    cfg.sparse_ratio = int_option(ratio, 2, nargs, "encode_sparse_array", 0, 2147483647, cfg.sparse_ratio)
    cfg.sparse_safe = int_option(safe, 3, nargs, "encode_sparse_array", 0, 2147483647, cfg.sparse_safe)
    return cfg.sparse_convert == 1, cfg.sparse_ratio, cfg.sparse_safe
  end

  cjson.encode_max_depth = int_setting("encode_max_depth", "encode_max_depth", 1, 2147483647)
  cjson.decode_max_depth = int_setting("decode_max_depth", "decode_max_depth", 1, 2147483647)
  cjson.encode_number_precision = int_setting("encode_number_precision", "precision", 1, 14)
  cjson.encode_keep_buffer = enum_setting("encode_keep_buffer", "keep_buffer", BOOL_OPTIONS)
  cjson.encode_invalid_numbers = enum_setting("encode_invalid_numbers", "encode_invalid", INVALID_OPTIONS)
  cjson.decode_invalid_numbers = enum_setting("decode_invalid_numbers", "decode_invalid", BOOL_OPTIONS)

  cjson.new = new_cjson
  cjson.null = NULL
  cjson._NAME = "cjson"
  cjson._VERSION = "2.1.0"
  return cjson
end
"""

# lua-cmsgpack 0.4.0 (lua_cmsgpack.c): integral numbers within int64 as the smallest int,
# others as float when exact else double; a table is an array when its keys are exactly 1..n;
# tables nested 16 deep encode as nil; pack concatenates its arguments, unpack returns them all.
_CMSGPACK: Final = r"""
local mp_encode
local FIXNUMS = {}
for i = 0, 127 do FIXNUMS[i] = schar(i) end

local function mp_int(n)
  if n >= 0 then
    if n <= 127 then return schar(n) end
    if n <= 255 then return schar(0xcc, n) end
    if n <= 65535 then return schar(0xcd, floor(n / 256), n % 256) end
    if n <= 4294967295 then return "\206" .. be32(n) end
    local hi = floor(n / TWO32)
    return "\207" .. be32(hi) .. be32(n - hi * TWO32)
  end
  if n >= -32 then return schar(n + 256) end
  if n >= -128 then return schar(0xd0, n + 256) end
  if n >= -32768 then
    local v = n + 65536
    return schar(0xd1, floor(v / 256), v % 256)
  end
  if n >= -2147483648 then return "\210" .. be32(n + TWO32) end
  local hi = floor(n / TWO32)
  return "\211" .. be32(hi + TWO32) .. be32(n - hi * TWO32)
end

-- is a finite double exactly a float? (d == (double)(float)d)
local function is_float(d)
  if d ~= d then return false end
  if d == huge or d == -huge then return true end
  local m, e = frexp(d)
  if e > 128 then return false end
  local q
  if e < -125 then q = d * P149 else q = m * 16777216 end
  return q == floor(q)
end

local function mp_number(n)
  if n == floor(n) and n >= -9223372036854775808 and n < 9223372036854775808 then return mp_int(n) end
  if is_float(n) then return "\202" .. be32(float_bits(n)) end
  local hi, lo = double_bits(n)
  return "\203" .. be32(hi) .. be32(lo)
end

-- short strings' encodings, kept until 1024 of them (map keys repeat from one call to the next)
local MP_STRINGS, MP_CACHED = {}, 0

local function mp_string(s)
  local len = #s
  if len < 32 then
    local e = MP_STRINGS[s]
    if e then return e end
    if MP_CACHED >= 1024 then MP_STRINGS, MP_CACHED = {}, 0 end
    e = schar(0xa0 + len) .. s
    MP_STRINGS[s], MP_CACHED = e, MP_CACHED + 1
    return e
  end
  if len <= 255 then return schar(0xd9, len) .. s end
  if len <= 65535 then return schar(0xda, floor(len / 256), len % 256) .. s end
  return "\219" .. be32(len) .. s
end

local function mp_len(len, fix, b16)
  if len <= 15 then return schar(fix + len) end
  if len <= 65535 then return schar(b16, floor(len / 256), len % 256) end
  return schar(b16 + 1) .. be32(len)
end

local function mp_table(t, level, buf, n)
  local count, max, isarray = 0, 0, true
  for k in next, t do
    if type(k) ~= "number" or k <= 0 or k ~= floor(k) or k > 2147483647 then
      isarray = false
      break
    end
    if k > max then max = k end
    count = count + 1
  end
  if isarray and max == count then
    local len = #t
    n = n + 1; buf[n] = mp_len(len, 0x90, 0xdc)
    for j = 1, len do n = mp_encode(t[j], level + 1, buf, n) end
    return n
  end
  count = 0
  for _ in next, t do count = count + 1 end
  n = n + 1; buf[n] = mp_len(count, 0x80, 0xde)
  for k, v in next, t do
    n = mp_encode(k, level + 1, buf, n)
    n = mp_encode(v, level + 1, buf, n)
  end
  return n
end

mp_encode = function(v, level, buf, n)
  local t = type(v)
  if t == "number" and v >= 0 and v <= 127 and v == floor(v) then
    n = n + 1; buf[n] = FIXNUMS[v]
  elseif t == "string" then
    n = n + 1; buf[n] = mp_string(v)
  elseif t == "number" then
    n = n + 1; buf[n] = mp_number(v)
  elseif t == "boolean" then
    n = n + 1; buf[n] = v and "\195" or "\194"
  elseif t == "table" and level < 16 then
    return mp_table(v, level, buf, n)
  else
    n = n + 1; buf[n] = "\192"
  end
  return n
end

local cmsgpack = {}

function cmsgpack.pack(...)
  local nargs = select("#", ...)
  if nargs == 0 then argerror(2, 0, "pack", "MessagePack pack needs input.") end
  local buf, n = {}, 0
  for i = 1, nargs do
    n = mp_encode((select(i, ...)), 0, buf, n)
  end
  return concat(buf, "", 1, n)
end

-- ---- decoding: the state of the one unpack running; MERR: 1 missing bytes, 2 bad format ----
-- MSLOTS: the Lua stack the C decoder would hold (lua_checkstack refuses beyond 8000 slots)
local MS, MP, MLEN, MERR, MSLOTS
local TOO_MANY = "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"

local function u32(i)
  local a, b, c, d = sbyte(MS, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function s64(hi, lo)
  if hi >= TWO31 then hi = hi - TWO32 end
  return hi * TWO32 + lo
end

local mp_decode

local function mp_need(n)
  if MLEN - MP + 1 < n then MERR = 1; return false end
  return true
end

local function mp_array(len)
  MSLOTS = MSLOTS + 1
  if MSLOTS + 1 > 8000 then throw("stack overflow (in function mp_decode_to_lua_array)") end
  local t = {}
  MSLOTS = MSLOTS + 1
  for i = 1, len do
    local v = mp_decode()
    if MERR then return t end
    t[i] = v
  end
  MSLOTS = MSLOTS - 2
  return t
end

local function mp_map(len)
  MSLOTS = MSLOTS + 1
  local t = {}
  for _ = 1, len do
    local k = mp_decode()
    if MERR then return t end
    MSLOTS = MSLOTS + 1
    local v = mp_decode()
    MSLOTS = MSLOTS - 1
    if MERR then return t end
    if k == nil then error("table index is nil", 0) end
    if k ~= k then error("table index is NaN", 0) end
    t[k] = v
  end
  MSLOTS = MSLOTS - 1
  return t
end

local function mp_str(hdr, len)
  if not mp_need(hdr + len) then return nil end
  local s = ssub(MS, MP + hdr, MP + hdr + len - 1)
  MP = MP + hdr + len
  return s
end

mp_decode = function()
  if MSLOTS + 1 > 8000 then throw(TOO_MANY) end
  if MP > MLEN then MERR = 1; return nil end
  local c = sbyte(MS, MP)
  if c <= 0x7f then MP = MP + 1; return c end
  if c >= 0xe0 then MP = MP + 1; return c - 256 end
  if c >= 0xa0 and c <= 0xbf then return mp_str(1, c - 0xa0) end
  if c <= 0x8f then MP = MP + 1; return mp_map(c - 0x80) end
  if c <= 0x9f then MP = MP + 1; return mp_array(c - 0x90) end
  if c == 0xc0 then MP = MP + 1; return nil end
  if c == 0xc2 then MP = MP + 1; return false end
  if c == 0xc3 then MP = MP + 1; return true end
  if c == 0xcc or c == 0xd0 then
    if not mp_need(2) then return nil end
    local v = sbyte(MS, MP + 1)
    MP = MP + 2
    if c == 0xd0 and v >= 128 then v = v - 256 end
    return v
  end
  if c == 0xcd or c == 0xd1 then
    if not mp_need(3) then return nil end
    local a, b = sbyte(MS, MP + 1, MP + 2)
    MP = MP + 3
    local v = a * 256 + b
    if c == 0xd1 and v >= 32768 then v = v - 65536 end
    return v
  end
  if c == 0xce or c == 0xd2 then
    if not mp_need(5) then return nil end
    local v = u32(MP + 1)
    MP = MP + 5
    if c == 0xd2 and v >= TWO31 then v = v - TWO32 end
    return v
  end
  if c == 0xcf or c == 0xd3 then
    if not mp_need(9) then return nil end
    local hi, lo = u32(MP + 1), u32(MP + 5)
    MP = MP + 9
    return s64(hi, lo)
  end
  if c == 0xca then
    if not mp_need(5) then return nil end
    local v = float_from_bits(u32(MP + 1))
    MP = MP + 5
    return v
  end
  if c == 0xcb then
    if not mp_need(9) then return nil end
    local v = double_from_bits(u32(MP + 1), u32(MP + 5))
    MP = MP + 9
    return v
  end
  if c == 0xd9 then
    if not mp_need(2) then return nil end
    return mp_str(2, sbyte(MS, MP + 1))
  end
  if c == 0xda then
    if not mp_need(3) then return nil end
    local a, b = sbyte(MS, MP + 1, MP + 2)
    return mp_str(3, a * 256 + b)
  end
  if c == 0xdb then
    if not mp_need(5) then return nil end
    return mp_str(5, u32(MP + 1))
  end
  if c == 0xdc or c == 0xde then
    if not mp_need(3) then return nil end
    local a, b = sbyte(MS, MP + 1, MP + 2)
    MP = MP + 3
    if c == 0xdc then return mp_array(a * 256 + b) end
    return mp_map(a * 256 + b)
  end
  if c == 0xdd or c == 0xdf then
    if not mp_need(5) then return nil end
    local len = u32(MP + 1)
    MP = MP + 5
    if c == 0xdd then return mp_array(len) end
    return mp_map(len)
  end
  MERR = 2
  return nil
end

local function decode_values(res, cnt, limit)
  while MP <= MLEN and cnt < limit do
    local v = mp_decode()
    if MERR == 1 then throw("Missing bytes in input.") end
    if MERR == 2 then throw("Bad data format in input.") end
    cnt = cnt + 1
    MSLOTS = MSLOTS + 1
    res[cnt] = v
  end
  -- C pushes 7998 values; Lua's unpack() returns at most 7997
  if cnt > 7997 then throw(TOO_MANY) end
  return cnt
end

-- mp_unpack_full: (values, count), the next offset first when a limit or offset is given
local function unpack_full(s, limit, offset)
  local len = #s
  if offset < 0 or limit < 0 then
    error(sfmt("Invalid request to unpack with offset of %d and limit of %d.", toint32(offset), toint32(len)), 3)
  elseif offset > len then
    error(sfmt("Start offset %d greater than input length %d.", toint32(offset), toint32(len)), 3)
  end
  local decode_all = limit == 0 and offset == 0
  local res, cnt = {}, 0
  if decode_all then limit = 2147483647 else cnt, limit = 1, limit + 1 end
  MS, MP, MLEN, MERR, MSLOTS = s, offset + 1, len, nil, cnt + 1
  local ok, r = pcall(decode_values, res, cnt, limit)
  MS = nil
  if not ok then rethrow(r, 3) end
  if not decode_all then
    if MP > MLEN then res[1] = -1 else res[1] = MP - 1 end
  end
  return res, r
end

function cmsgpack.unpack(...)
  local nargs = select("#", ...)
  local s = checkstring((...), 1, nargs, "unpack", 2)
  local res, cnt = unpack_full(s, 0, 0)
  return unpack(res, 1, cnt)
end

function cmsgpack.unpack_one(...)
  local nargs = select("#", ...)
  local s, off = ...
  local offset = 0
  if off ~= nil then offset = checkinteger(off, 2, nargs, "unpack_one", 2) end
  s = checkstring(s, 1, nargs, "unpack_one", 2)
  local res, cnt = unpack_full(s, 1, offset)
  return unpack(res, 1, cnt)
end

function cmsgpack.unpack_limit(...)
  local nargs = select("#", ...)
  local s, lim, off = ...
  local limit = checkinteger(lim, 2, nargs, "unpack_limit", 2)
  local offset = 0
  if off ~= nil then offset = checkinteger(off, 3, nargs, "unpack_limit", 2) end
  s = checkstring(s, 1, nargs, "unpack_limit", 2)
  local res, cnt = unpack_full(s, limit, offset)
  return unpack(res, 1, cnt)
end

cmsgpack._NAME = "cmsgpack"
cmsgpack._VERSION = "lua-cmsgpack 0.4.0"
cmsgpack._COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo"
cmsgpack._DESCRIPTION = "MessagePack C implementation for Lua"
"""

# lua-struct (lua_struct.c) as Redis builds it on x86-64: native little endian, long and size_t of
# 8 bytes, int of 4, integers up to 32 bytes (64 significant bits), default maximum alignment 8.
_STRUCT: Final = r"""
local LITTLE, BIG = 1, 0

local function isdigit(c) return c ~= nil and c >= 48 and c <= 57 end

-- getnum: (value, next index); errors are raised `level` frames up
local function getnum(fmt, i, df, level)
  local c = sbyte(fmt, i)
  if not isdigit(c) then return df, i end
  local a = 0
  repeat
    local d = c - 48
    if a > 214748364 or a * 10 > 2147483647 - d then error("integral size overflow", level + 1) end
    a = a * 10 + d
    i = i + 1
    c = sbyte(fmt, i)
  until not isdigit(c)
  return a, i
end

local SIZES = {
  [66] = 1, [98] = 1, [72] = 2, [104] = 2, [76] = 8, [108] = 8, [84] = 8, [102] = 4, [100] = 8, [120] = 1,
}

-- the option at index i of a format: (option, size, next index) (optsize); called from a library
-- function, so errors are raised 4 frames up (optsize, next_option, the library function)
local function optsize(opt, fmt, i)
  local s = SIZES[opt]
  if s then return s, i end
  if opt == 99 then  -- 'c' (not a tail call: getnum's errors count this frame)
    local sz
    sz, i = getnum(fmt, i, 1, 4)
    return sz, i
  end
  if opt == 105 or opt == 73 then  -- 'i', 'I'
    local sz
    sz, i = getnum(fmt, i, 4, 4)
    if sz > 32 then error(sfmt("integral size %d is larger than limit of %d", sz, 32), 4) end
    return sz, i
  end
  return 0, i
end

local function next_option(fmt, i)
  local opt = sbyte(fmt, i)
  local size, j = optsize(opt, fmt, i + 1)
  return opt, size, j
end

local POWERS_OF_2 = {[1] = true, [2] = true, [4] = true, [8] = true, [16] = true, [32] = true}

local function gettoalign(len, align, opt, size)
  if size == 0 or opt == 99 then return 0 end
  if size > align then size = align end
  if size == 1 then return 0 end
  if POWERS_OF_2[size] then return (size - len % size) % size end  -- x & (size - 1) is x % size
  return band2((size - band2(len % TWO32, size - 1)), size - 1)
end

local INTEGER_OPTIONS = {}
for i = 1, 9 do INTEGER_OPTIONS[sbyte("bBhHlLTiI", i)] = true end

-- controloptions: (endian, align, next index); errors 3 frames up
local function controloptions(opt, fmt, i, endian, align, fname)
  if opt == 32 then return endian, align, i end
  if opt == 62 then return BIG, align, i end
  if opt == 60 then return LITTLE, align, i end
  if opt == 33 then
    local a
    a, i = getnum(fmt, i, 8, 3)
    if a <= 0 or band2(a, a - 1) ~= 0 then error(sfmt("alignment %d is not a power of 2", a), 3) end
    return endian, a, i
  end
  argerror(3, 1, fname, sfmt("invalid format option '%s'", schar(opt)))
end

local function cstring(s)
  local z = sfind(s, "%z")
  if z then return ssub(s, 1, z - 1) end
  return s
end

-- the bytes of an integer (a double truncated toward zero), `size` of them, in `endian` order
local function putinteger(n, size, endian)
  local hi, lo
  if n < 0 then n = -floor(-n) else n = floor(n) end
  if n ~= n or n < -9223372036854775808 then
    hi, lo = TWO31, 0  -- (long) of NaN or below the range: x86's "integer indefinite"
  elseif n >= 18446744073709551616 then
    hi, lo = 0, 0  -- (unsigned long) beyond the range, as gcc's conversion ends up on x86-64
  else
    lo = n % TWO32
    hi = floor(n / TWO32) % TWO32
  end
  local bytes = {}
  for k = 0, size - 1 do
    local b = 0
    if k < 4 then b = floor(lo / POW2[8 * k]) % 256
    elseif k < 8 then b = floor(hi / POW2[8 * (k - 4)]) % 256 end
    if endian == LITTLE then bytes[k + 1] = b else bytes[size - k] = b end
  end
  return schar(unpack(bytes, 1, size))
end

local function getinteger(data, pos, endian, signed, size)
  local hi, lo = 0, 0
  for k = 0, size - 1 do  -- k: significance of the byte
    local b
    if endian == LITTLE then b = sbyte(data, pos + 1 + k) else b = sbyte(data, pos + size - k) end
    if k < 4 then lo = lo + b * POW2[8 * k]
    elseif k < 8 then hi = hi + b * POW2[8 * (k - 4)] end
  end
  if not signed then return hi * TWO32 + lo end
  local s = (size * 8 - 1) % 64  -- the C shift is taken modulo 64
  if s < 32 then
    if lo >= POW2[s] or hi > 0 then
      lo = lo % POW2[s] + (TWO32 - POW2[s])
      hi = TWO32 - 1
    end
  else
    local s2 = s - 32
    if hi >= POW2[s2] then hi = hi % POW2[s2] + (TWO32 - POW2[s2]) end
  end
  if hi >= TWO31 then hi = hi - TWO32 end
  return hi * TWO32 + lo
end

local function le_bytes32(v)
  return schar(v % 256, floor(v / 256) % 256, floor(v / 65536) % 256, floor(v / 16777216))
end


local struct = {}

function struct.pack(...)
  local nargs = select("#", ...)
  local args = {...}
  local fmt = cstring(checkstring(args[1], 1, nargs, "pack", 2))
  nargs = nargs + 1  -- b_pack pushes a nil mark after its arguments: a missing one is that nil
  local endian, align = LITTLE, 1
  local buf, nb = {}, 0
  local total = 0
  local arg = 2
  local i, flen = 1, #fmt
  while i <= flen do
    local opt, size
    opt, size, i = next_option(fmt, i)
    local toalign = gettoalign(total, align, opt, size)
    total = total + toalign
    if toalign > 0 then nb = nb + 1; buf[nb] = srep("\0", toalign) end
    if INTEGER_OPTIONS[opt] then
      local n = checknumber(args[arg], arg, nargs, "pack", 2)
      arg = arg + 1
      nb = nb + 1; buf[nb] = putinteger(n, size, endian)
    elseif opt == 120 then  -- 'x'
      nb = nb + 1; buf[nb] = "\0"
    elseif opt == 102 then  -- 'f'
      local s = le_bytes32(float_bits(checknumber(args[arg], arg, nargs, "pack", 2)))
      arg = arg + 1
      if endian == BIG then s = reverse(s) end
      nb = nb + 1; buf[nb] = s
    elseif opt == 100 then  -- 'd'
      local hi, lo = double_bits(checknumber(args[arg], arg, nargs, "pack", 2))
      arg = arg + 1
      local s = le_bytes32(lo) .. le_bytes32(hi)
      if endian == BIG then s = reverse(s) end
      nb = nb + 1; buf[nb] = s
    elseif opt == 99 or opt == 115 then  -- 'c', 's'
      local s = checkstring(args[arg], arg, nargs, "pack", 2)
      arg = arg + 1
      local l = #s
      if size == 0 then size = l end
      if l < size then argerror(2, arg, "pack", "string too short") end
      nb = nb + 1; buf[nb] = ssub(s, 1, size)
      if opt == 115 then
        nb = nb + 1; buf[nb] = "\0"
        size = size + 1
      end
    else
      endian, align, i = controloptions(opt, fmt, i, endian, align, "pack")
    end
    total = total + size
  end
  return concat(buf, "", 1, nb)
end

function struct.unpack(...)
  local nargs = select("#", ...)
  local f, data, p = ...
  local fmt = cstring(checkstring(f, 1, nargs, "unpack", 2))
  data = checkstring(data, 2, nargs, "unpack", 2)
  local ld = #data
  local pos = 1
  if p ~= nil then pos = checkinteger(p, 3, nargs, "unpack", 2) end
  if pos == 0 then argerror(2, 3, "unpack", "offset must be 1 or greater") end
  local huge_pos = pos < 0  -- size_t: a negative offset wraps around
  local endian, align = LITTLE, 1
  pos = pos - 1
  local res, n = {}, 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt, size
    opt, size, i = next_option(fmt, i)
    if not huge_pos then pos = pos + gettoalign(pos, align, opt, size) end
    if huge_pos or size > ld or pos > ld - size then
      argerror(2, 2, "unpack", "data string too short")
    end
    if INTEGER_OPTIONS[opt] then
      n = n + 1
      res[n] = getinteger(data, pos, endian, opt >= 97, size)
    elseif opt == 120 then  -- 'x': skipped
    elseif opt == 102 then  -- 'f'
      local a, b, cc, d = sbyte(data, pos + 1, pos + 4)
      if endian == BIG then a, b, cc, d = d, cc, b, a end
      n = n + 1
      res[n] = float_from_bits(((d * 256 + cc) * 256 + b) * 256 + a)
    elseif opt == 100 then  -- 'd'
      local s = ssub(data, pos + 1, pos + 8)
      if endian == BIG then s = reverse(s) end
      local b0, b1, b2, b3, b4, b5, b6, b7 = sbyte(s, 1, 8)
      n = n + 1
      res[n] = double_from_bits(((b7 * 256 + b6) * 256 + b5) * 256 + b4, ((b3 * 256 + b2) * 256 + b1) * 256 + b0)
    elseif opt == 99 then  -- 'c'
      if size == 0 then
        local prev = res[n]
        if n == 0 or tonumber(prev) == nil then error("format 'c0' needs a previous size", 2) end
        size = tonumber(prev)
        if size < 0 then size = -floor(-size) else size = floor(size) end
        n = n - 1
        if size < 0 or size > ld or pos > ld - size then
          argerror(2, 2, "unpack", "data string too short")
        end
      end
      n = n + 1
      res[n] = ssub(data, pos + 1, pos + size)
    elseif opt == 115 then  -- 's'
      local e = sfind(data, "%z", pos + 1)
      if e == nil then error("unfinished string in data", 2) end
      size = e - pos
      n = n + 1
      res[n] = ssub(data, pos + 1, e - 1)
    else
      endian, align, i = controloptions(opt, fmt, i, endian, align, "unpack")
    end
    pos = pos + size
  end
  n = n + 1
  res[n] = pos + 1
  return unpack(res, 1, n)
end

function struct.size(...)
  local nargs = select("#", ...)
  local fmt = cstring(checkstring((...), 1, nargs, "size", 2))
  local endian, align = LITTLE, 1
  local pos = 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt, size
    opt, size, i = next_option(fmt, i)
    pos = pos + gettoalign(pos, align, opt, size)
    if opt == 115 then argerror(2, 1, "size", "option 's' has no fixed size") end
    if opt == 99 and size == 0 then argerror(2, 1, "size", "option 'c0' has no fixed size") end
    local isalnum = (opt >= 48 and opt <= 57) or (opt >= 65 and opt <= 90) or (opt >= 97 and opt <= 122)
    if not isalnum then endian, align, i = controloptions(opt, fmt, i, endian, align, "size") end
    pos = pos + size
  end
  return pos
end
"""

_SOURCE: Final = (
    _PRELUDE
    + _BIT
    + _CJSON
    + _CMSGPACK
    + _STRUCT
    + "\nlocal libs = {bit = bit, cjson = new_cjson(), cmsgpack = cmsgpack, struct = struct}\n"
    + "return function(g) for name, lib in next, libs do rawset(g, name, lib) end end\n"
)


def install(lua: Any) -> None:
    """Set the globals ``bit``, ``cjson``, ``cmsgpack`` and ``struct`` in ``lua`` (a
    ``lupa.lua51.LuaRuntime``), as Redis 7.0 loads them in every scripting state."""
    # "=kvserver": the chunk name of the engine's own Lua code, whose frames the error handler
    # steps over (as Redis's steps over C frames) to report the script's line
    setter = lua.execute(_SOURCE, name="=kvserver")
    setter(lua.globals())
