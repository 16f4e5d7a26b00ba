-- Loaded by kvserver/scripting/engine.py into each Lua state: Redis 7.0's sandbox and API.
local py_call, py_pcall, py_unwrap, py_log, py_tick, py_random, py_seed, py_sha1, py_acl, py_setresp, py_set_repl, py_load_expired = ...
local G = _G
local dbg = debug
local error, type, tostring, select, unpack, pcall, xpcall = error, type, tostring, select, unpack, pcall, xpcall
local setmetatable, rawget, rawset, loadstring, setfenv, floor, sethook = setmetatable, rawget, rawset, loadstring, setfenv, math.floor, debug.sethook
local next, pairs, ipairs, concat, tonumber = next, pairs, ipairs, table.concat, tonumber

local function pack(...) return {n = select('#', ...), ...} end

local function readonly()
  error('Attempt to modify a readonly table', 2)
end

local function err_table(text) return {err = text} end

-- redis.*
local redis = {}
-- Python callables, not Lua wrappers: a Lua function would be tail-called by `return
-- redis.call(...)`, losing the script's line from the error; redis.call raises a Python
-- exception carrying the error table, which `unwrap` takes back out
redis.call = py_call
redis.pcall = py_pcall
redis.sha1hex = py_sha1
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return err_table('ERR wrong number or type of arguments') end
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  local code, msg = s:match('^%-([^ ]*) (.*)$')
  if not code then code, msg = 'ERR', s:sub(2) end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return err_table(code .. ' ' .. msg)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return err_table('ERR wrong number or type of arguments') end
  return {ok = s}
end
redis.log = py_log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.setresp = py_setresp
redis.set_repl = py_set_repl
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if select('#', ...) < 1 then error(err_table('ERR Please specify at least one argument for this redis lib call')) end
  local ok = py_acl(...)
  if ok == nil then error(err_table('ERR Invalid command passed to redis.acl_check_cmd()')) end
  return ok
end
redis.REDIS_VERSION = '__VERSION__'
redis.REDIS_VERSION_NUM = __VERSION_NUM__

-- math.random as Redis's (its own rand48, the same sequence on every platform)
local function random(...)
  local r = py_random()
  local n = select('#', ...)
  if n == 0 then return r end
  if n == 1 then
    local u = tonumber((...))
    if u == nil then error("bad argument #1 to 'random' (number expected, got " .. type((...)) .. ")", 2) end
    u = floor(u)
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  end
  if n == 2 then
    local l, u = tonumber((select(1, ...))), tonumber((select(2, ...)))
    if l == nil then error("bad argument #1 to 'random' (number expected, got " .. type((select(1, ...))) .. ")", 2) end
    if u == nil then error("bad argument #2 to 'random' (number expected, got " .. type((select(2, ...))) .. ")", 2) end
    l, u = floor(l), floor(u)
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 2)
end
local function randomseed(seed)
  local s = tonumber(seed)
  if s == nil then error("bad argument #1 to 'randomseed' (number expected, got " .. type(seed) .. ")", 2) end
  py_seed(floor(s))
end
math.random = random
math.randomseed = randomseed

-- Redis 7.0's pcall: an error table becomes its message
local function redis_pcall(f, ...)
  local r = pack(pcall(f, ...))
  if not r[1] and type(r[2]) == 'userdata' then r[2] = py_unwrap(r[2]) end
  if not r[1] and type(r[2]) == 'table' and type(rawget(r[2], 'err')) == 'string' then
    return false, rawget(r[2], 'err')
  end
  return unpack(r, 1, r.n)
end

-- the globals a script may see (script_lua.c's allow lists); everything else goes
local allowed = {
  'string', 'cjson', 'bit', 'cmsgpack', 'math', 'table', 'struct',
  'xpcall', 'tostring', 'getfenv', 'setmetatable', 'next', 'assert', 'tonumber', 'rawequal',
  'collectgarbage', 'getmetatable', 'rawset', 'pcall', 'coroutine', 'type', '_G', 'select',
  'unpack', 'gcinfo', 'pairs', 'rawget', 'loadstring', 'ipairs', '_VERSION', 'setfenv', 'load',
  'error', 'newproxy',
}
local keep = {}
for _, name in ipairs(allowed) do keep[name] = G[name] end
keep.pcall = redis_pcall
for name in pairs(G) do rawset(G, name, nil) end

-- Redis 7.0's globals and library tables are read-only (its Lua has read-only tables; here each
-- is an empty proxy reading through to the real table, which nothing can reach)
local protected = setmetatable({}, {__mode = 'k'})
local readonly_mt = setmetatable({}, {__newindex = readonly})  -- what getmetatable shows
protected[readonly_mt] = true
local function lock(t)
  local proxy = setmetatable({}, {__index = t, __newindex = readonly, __metatable = readonly_mt})
  protected[proxy] = true
  return proxy
end
for _, name in ipairs({'string', 'cjson', 'bit', 'cmsgpack', 'math', 'table', 'struct', 'coroutine'}) do
  if keep[name] ~= nil then keep[name] = lock(keep[name]) end
end
protected[G] = true
local real_setmetatable, real_rawset, real_loadstring, real_load = setmetatable, rawset, loadstring, keep.load
keep.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return real_setmetatable(t, mt)
end
keep.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return real_rawset(t, k, v)
end
-- no binary chunks (Redis 7.0 refuses them: bytecode can break out of the sandbox)
keep.loadstring = function(code, ...)
  if type(code) == 'string' and code:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return real_loadstring(code, ...)
end
keep.load = function(reader, ...)
  if type(reader) == 'string' then return keep.loadstring(reader, ...) end
  local first = true
  return real_load(function()
    local piece = reader()
    if first and type(piece) == 'string' and piece ~= '' then
      first = false
      if piece:byte(1) == 27 then return nil end
    end
    return piece
  end, ...)
end
keep._G = G

-- FUNCTION LOAD: the library's code sees only this much of `redis` (function_lua.c)
local registered  -- the functions the library being loaded registered, else nil
local flag_bits = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4, ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 16}
local function reg_error(text) error(err_table('ERR ' .. text)) end
local function register_function(...)
  if registered == nil then reg_error('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  if n < 1 or n > 2 then reg_error('wrong number of arguments to redis.register_function') end
  local name, callback, flags, desc = nil, nil, 0, nil
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      reg_error('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in pairs(t) do
      if type(k) ~= 'string' and type(k) ~= 'number' then reg_error('named argument key given to redis.register_function is not a string') end
      local key = tostring(k):lower()
      if key == 'function_name' then
        if type(v) ~= 'string' and type(v) ~= 'number' then reg_error('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif key == 'description' then
        if type(v) ~= 'string' and type(v) ~= 'number' then reg_error('description argument given to redis.register_function must be a string') end
        desc = tostring(v)
      elseif key == 'callback' then
        if type(v) ~= 'function' then reg_error('callback argument given to redis.register_function must be a function') end
        callback = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then reg_error('flags argument to redis.register_function must be a table representing function flags') end
        local i = 1
        while v[i] ~= nil do
          local bit = type(v[i]) == 'string' and flag_bits[v[i]:lower()]
          if not bit then reg_error('unknown flag given') end
          if flags % (bit * 2) < bit then flags = flags + bit end
          i = i + 1
        end
      else
        reg_error('unknown argument given to redis.register_function')
      end
    end
    if name == nil then reg_error('redis.register_function must get a function name argument') end
    if callback == nil then reg_error('redis.register_function must get a callback argument') end
  else
    name, callback = ...
    if type(name) ~= 'string' and type(name) ~= 'number' then reg_error('first argument to redis.register_function must be a string') end
    name = tostring(name)
    if type(callback) ~= 'function' then reg_error('second argument to redis.register_function must be a function') end
  end
  if name == '' or name:find('[^%w_]') then
    reg_error('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  for _, entry in ipairs(registered) do
    if entry[1] == name then reg_error('Function already exists in the library') end
  end
  registered[#registered + 1] = {name, callback, flags, desc or false}
end
local load_api = {
  register_function = register_function, log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_redis = real_setmetatable({}, {
  __index = function(_, name)
    local v = rawget(load_api, name)
    if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
local run_redis = lock(redis)
keep.redis = run_redis

local visible = {}  -- KEYS and ARGV of the running EVAL
-- a global is looked up in `keep` (in C, no Lua call); only what isn't there reaches `missing`
local function missing(_, name)
  local v = rawget(visible, name)
  if v == nil and name ~= 'debug' then  -- (lupa's error handler looks 'debug' up; nil is fine)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end
  return v
end
setmetatable(keep, {__index = missing})
local g_mt = {__index = keep, __newindex = readonly, __metatable = readonly_mt}
setmetatable(G, g_mt)
-- while FUNCTION LOAD runs a library's code, the globals are only `redis` (function_lua.c)
local load_globals = setmetatable({redis = load_redis}, {__index = function(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end})

local function handler(err)
  local level = 2
  local info = dbg.getinfo(level, 'nSl')
  while info and (info.what == 'C' or info.source == '=kvserver') do
    level = level + 1
    info = dbg.getinfo(level, 'nSl')
  end
  if type(err) == 'userdata' then err = py_unwrap(err) end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end

local kill_message
local hooked = 0  -- the count the hook is installed with (once, not per run: sethook costs)
local function killed_hook()
  -- every line of the script raises again (pcall can't swallow the kill), not this chunk's own
  local info = dbg.getinfo(2, 'S')
  if info and info.source ~= '=kvserver' then error(err_table(kill_message)) end
end
local function count_hook()
  if py_tick() then
    sethook(killed_hook, 'l')
    hooked = -1  -- the next run installs the count hook again
    error(err_table(kill_message))
  end
end

local function compile(body, chunkname)
  local f, e = loadstring(body, chunkname)
  if not f then return false, e end
  return true, f
end

-- keys and arguments come as varargs (cheaper than two tables built from Python)
local function run(f, eval_mode, hook, killmsg, nkeys, ...)
  kill_message = killmsg
  local all = {...}
  local keys, args = {unpack(all, 1, nkeys)}, {unpack(all, nkeys + 1, select('#', ...))}
  if eval_mode then
    visible.KEYS = keys
    visible.ARGV = args
  end
  if hook ~= hooked then
    if hook > 0 then sethook(count_hook, '', hook) else sethook() end
    hooked = hook
  end
  local ok, result
  if eval_mode then
    ok, result = xpcall(f, handler)
  else
    ok, result = xpcall(function() return f(keys, args) end, handler)
  end
  if hooked < 0 then  -- killed: the line hook goes
    sethook()
    hooked = 0
  end
  if eval_mode then
    visible.KEYS = nil
    visible.ARGV = nil
  end
  return ok, result
end

local function load_library(body)
  local f, e = loadstring(body, '@user_function')
  if not f then return false, 'Error compiling function: ' .. tostring(e) end
  registered = {}
  g_mt.__index = load_globals
  sethook(function()
    if py_load_expired() then error(err_table('ERR FUNCTION LOAD timeout')) end
  end, '', 100000)
  local ok, err = xpcall(f, handler)
  sethook()
  hooked = 0
  g_mt.__index = keep
  local result = registered
  registered = nil
  if not ok then
    return false, 'Error registering functions: ' .. tostring(type(err) == 'table' and rawget(err, 'err') or err)
  end
  return true, result
end

local function field(t, name) return rawget(t, name) end

local collect = collectgarbage
local function gc(step)
  if step then collect('step', step) else collect('collect') end
end

return compile, run, field, load_library, gc
