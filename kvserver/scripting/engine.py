"""The Lua engine: one lupa ``LuaRuntime`` per server, Redis 7.0's sandbox, and the conversions
between Lua values and RESP replies (script_lua.c's rules, both ways).

A script is compiled once (``loadstring`` with the chunk name ``@user_script``, or
``@user_function`` for a library) and kept by its SHA1; EVALSHA calls the compiled function. The
``redis`` table's functions are Lua wrappers around Python callables (``_Bridge``), which run
commands through the ``Host`` the caller gives for the run. The global table is locked as in
Redis 7.0: reading a missing global and writing any are errors (Lua code can't tell a locked
table from Redis's read-only one, except that ``rawset`` on a library table still works).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

from kvserver.protocol import ErrorReply, NullArray, SetReply, SimpleString, Verbatim, format_double, split_args
from kvserver.scripting import lualibs, lupa_lua51

if TYPE_CHECKING:
    from collections.abc import Sequence

REDIS_VERSION: Final = "7.0.15"
REDIS_VERSION_NUM: Final = 0x07000F
# the Lua state's memory cap (lupa's allocator limit): a script that needs more fails cleanly
LUA_MAX_MEMORY: Final = 256 * 1024 * 1024
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# script flags (script.c's scripts_flags_def); EVAL_COMPAT: no shebang
NO_WRITES: Final = 1
ALLOW_OOM: Final = 2
ALLOW_STALE: Final = 4
NO_CLUSTER: Final = 8
ALLOW_CROSS_SLOT: Final = 16
EVAL_COMPAT: Final = 32
FLAG_NAMES: Final = {
    b"no-writes": NO_WRITES,
    b"allow-oom": ALLOW_OOM,
    b"allow-stale": ALLOW_STALE,
    b"no-cluster": NO_CLUSTER,
    b"allow-cross-slot-keys": ALLOW_CROSS_SLOT,
}
KILLED: Final = "ERR Script killed by user with SCRIPT KILL..."
FUNCTION_KILLED: Final = "ERR Script killed by user with FUNCTION KILL..."
_KILLED: Final = KILLED.encode()
_FUNCTION_KILLED: Final = FUNCTION_KILLED.encode()


class ScriptError(Exception):
    """An error reply (``text`` without the leading '-'); ``counted``: the error stats have it
    already (it came from a command the script ran)."""

    def __init__(self, text: str | bytes, counted: bool = False) -> None:
        self.text = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text
        self.counted = counted
        super().__init__(self.text)


class _RaisedTable(Exception):
    """A Lua error raised from Python: lupa hands Lua this exception, ``_unwrap`` the table."""

    def __init__(self, table: object) -> None:
        super().__init__("Lua error table")
        self.table = table


class Host(Protocol):
    """What a running script asks of the server."""

    def call(self, argv: list[bytes], resp3: bool) -> tuple[object, bool]:
        """Run ``redis.call``'s command: (reply, rejected). ``rejected``: the script checks refused
        it (the reply is then the error text, which gets Redis's ERR prefix rules)."""

    def log(self, level: int, message: bytes) -> None: ...

    def tick(self) -> bool:
        """The instruction hook: True once the script has been killed."""

    def acl_check(self, argv: list[bytes]) -> bool:
        """redis.acl_check_cmd: False for an unknown command."""


def _lua_number(value: object) -> float | None:
    """lua_tonumber: a number, or a string that reads as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, bytes):
        try:
            return float(value)
        except ValueError:
            return int(value, 16) if value.lower().startswith(b"0x") and _is_hex(value[2:]) else None
    return None


def _is_hex(text: bytes) -> bool:
    return bool(text) and all(c in b"0123456789abcdefABCDEF" for c in text)


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def parse_shebang(body: bytes) -> tuple[int, int]:
    """(flags, length of the shebang line) as evalExtractShebangFlags reads ``#!lua flags=...``."""
    if not body.startswith(b"#!"):
        return EVAL_COMPAT, 0
    end = body.find(b"\n")
    if end < 0:
        raise ScriptError("ERR Invalid script shebang")
    parts = split_args(body[:end])  # sdssplitargs: quotes allowed
    if not parts:
        raise ScriptError("ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        raise ScriptError(b"ERR Unexpected engine in script shebang: " + parts[0])
    flags = 0
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise ScriptError(b"ERR Unknown lua shebang option: " + part)
        for name in part[6:].split(b","):
            if name not in FLAG_NAMES:
                raise ScriptError(b"ERR Unexpected flag in script shebang: " + name)
            flags |= FLAG_NAMES[name]
    return flags, end


def error_table_text(raw: bytes) -> bytes:
    """luaPushErrorBuff: '-CODE msg' keeps its code, a bare 'msg' gets ERR; the message trimmed."""
    if raw[:1] == b"-":
        code, space, message = raw[1:].partition(b" ")
        if not space:
            code, message = b"ERR", raw[1:]
    else:
        code, message = b"ERR", raw
    return code + b" " + message.strip(b"\r\n")


# The Lua side: builds the sandbox from the standard libraries lupa opened, keeps what it needs in
# locals, and returns the functions the engine calls. ``...`` are the Python callables.
_BOOTSTRAP: Final = (Path(__file__).parent / "sandbox.lua").read_text()


class LuaState:
    """One Lua runtime with the sandbox, created on first use (lupa imported then)."""

    def __init__(self, max_memory: int = LUA_MAX_MEMORY) -> None:
        lupa = lupa_lua51()
        if lupa is None:
            raise ScriptError("ERR Lua scripting is not available")
        self.lupa = lupa
        self.runtime: Any = lupa.LuaRuntime(
            encoding=None,
            unpack_returned_tuples=True,
            register_eval=False,
            register_builtins=False,
            max_memory=max_memory,
        )
        self.host: Host | None = None
        self._rand = 0x1234ABCD330E  # rand48's initial state, as Redis's redisLrand48
        lualibs.install(self.runtime)
        bootstrap = _BOOTSTRAP.replace("__VERSION_NUM__", str(REDIS_VERSION_NUM)).replace("__VERSION__", REDIS_VERSION)
        loader = self.runtime.eval("function(code) return loadstring(code, '=kvserver') end")
        chunk = loader(bootstrap.encode())
        callables = (self._call, self._pcall, self._unwrap, self._log, self._tick, self._random, self._seed)
        (self._compile, self._run, self._field, self._load_library, self._gc) = chunk(
            *callables, self._sha1, self._acl, self._setresp, self._set_repl, self._load_expired
        )
        self._load_deadline = 0.0
        self._runs = 0  # a GC step every GC_PERIOD runs, as Redis's LUA_GC_CYCLE_PERIOD
        self.error_counted = False  # the error reply the last run returned came from a command
        self.resp = 2  # redis.setresp: how the running script sees replies
        self.repl = 3  # redis.set_repl
        self.lua_type: Callable[[object], str | None] = lupa.lua_type
        self.table_from: Callable[..., Any] = self.runtime.table_from

    # --- compiling and running ---------------------------------------------------------------

    def compile(self, body: bytes, chunkname: bytes) -> Any:
        """The compiled function, or ScriptError with Lua's message."""
        try:
            compiled, function = self._compile(body, chunkname)
            if not compiled and function == b"not enough memory":
                self._gc()  # what a failed script left behind, then once more
                compiled, function = self._compile(body, chunkname)
        except self.lupa.LuaMemoryError:
            raise ScriptError("ERR Error compiling script: the Lua memory limit was reached") from None
        if not compiled:
            raise ScriptError(b"ERR Error compiling script (new function): " + (function or b""))
        return function

    def load_library(self, body: bytes) -> list[tuple[bytes, Any, int, bytes | None]]:
        """Run a library's code (FUNCTION LOAD): the functions it registered, as (name, callback,
        flags, description)."""
        self._load_deadline = time.monotonic() + LOAD_TIMEOUT
        try:
            ok, result = self._load_library(body)
        except self.lupa.LuaMemoryError:
            raise ScriptError("ERR Error registering functions: the Lua memory limit was reached") from None
        if not ok:
            raise ScriptError(b"ERR " + result)
        functions = []
        for index in range(1, len(result) + 1):
            entry = result[index]
            description = entry[4] if isinstance(entry[4], bytes) else None
            functions.append((entry[1], entry[2], int(entry[3]), description))
        return functions

    def run(
        self,
        function: Any,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        host: Host,
        *,
        name: str,
        resp3: bool,
        eval_mode: bool = True,
        hook: int = 0,
    ) -> object:
        """Call ``function`` and convert what it returns (``name``: its name in error texts)."""
        self.host = host
        self.resp = 2
        self.repl = 3
        try:
            ok, result = self._run(
                function, eval_mode, hook, _KILLED if eval_mode else _FUNCTION_KILLED, len(keys), *keys, *args
            )
        except self.lupa.LuaMemoryError:
            self._gc()
            raise ScriptError(
                f"ERR Error running script {name}: the Lua memory limit ({LUA_MAX_MEMORY >> 20} MB) was reached"
            ) from None
        except self.lupa.LuaError as exc:
            raise ScriptError(f"ERR Error running script {name}: {exc}") from None
        finally:
            self.host = None
        self._runs += 1
        if not ok:
            text = self._failure(result, name)
            if b"not enough memory" in text:
                self._gc()  # the failed script's garbage goes now, not at some later allocation
            counted = self.lua_type(result) == "table" and self._field(result, _COUNTED) is True
            raise ScriptError(text, counted)
        self.error_counted = False
        if self._runs >= GC_PERIOD:
            self._runs = 0
            self._gc(GC_PERIOD)
        return self.to_reply(result, resp3, self.resp == 3)

    def _failure(self, error: object, name: str) -> bytes:
        """luaCallFunction's error text: the message, and where the script failed."""
        if self.lua_type(error) != "table":
            text = error if isinstance(error, bytes) else b"execution failure"
            return b"ERR Error running script %s, %.100b" % (name.encode(), text)
        message = self._field(error, b"err")
        if not isinstance(message, bytes):
            message = b"ERR unknown error"
        source = self._field(error, b"source")
        line = self._field(error, b"line")
        if isinstance(source, bytes) and line is not None:
            return message + b" script: %b, on %b:%d." % (name.encode(), source, int(line))
        return message

    # --- Lua → reply -------------------------------------------------------------------------

    def to_reply(self, value: object, resp3_caller: bool, resp3_script: bool, depth: int = 0) -> object:
        """luaReplyToRedisReply: ``value`` as the reply the caller gets."""
        kind = type(value)
        if kind is bytes:
            return value
        if kind is bool:
            if resp3_script:
                return value
            return 1 if value else None
        if kind is int:
            return value if INT64_MIN <= value <= INT64_MAX else INT64_MIN  # type: ignore[operator]
        if kind is float:
            assert isinstance(value, float)
            return int(value) if math.isfinite(value) and abs(value) < 2**63 else INT64_MIN
        if value is None or self.lua_type(value) != "table":
            return None
        if depth > 200:
            return ErrorReply(b"ERR reached lua stack limit")
        field = self._field
        err = field(value, b"err")
        if isinstance(err, bytes):
            if depth == 0:
                self.error_counted = field(value, _COUNTED) is True
            return ErrorReply(err)
        ok = field(value, b"ok")
        if isinstance(ok, bytes):
            return SimpleString(ok.replace(b"\r", b" ").replace(b"\n", b" "))
        double = field(value, b"double")
        if isinstance(double, (int, float)) and not isinstance(double, bool):
            return float(double)
        big = field(value, b"big_number")
        if isinstance(big, bytes):
            return big.replace(b"\r", b" ").replace(b"\n", b" ")  # a bulk string (no big number type)
        verbatim = field(value, b"verbatim_string")
        if verbatim is not None and self.lua_type(verbatim) == "table":
            text = field(verbatim, b"string")
            if isinstance(field(verbatim, b"format"), bytes) and isinstance(text, bytes):
                return Verbatim(text)
        mapping = field(value, b"map")
        if mapping is not None and self.lua_type(mapping) == "table":
            result: dict[object, object] = {}
            for key, item in mapping.items():
                converted = self.to_reply(key, resp3_caller, resp3_script, depth + 1)
                try:
                    result[converted] = self.to_reply(item, resp3_caller, resp3_script, depth + 1)
                except TypeError:  # an unhashable key (a table): kept under its position
                    result[len(result)] = self.to_reply(item, resp3_caller, resp3_script, depth + 1)
            return result
        members = field(value, b"set")
        if members is not None and self.lua_type(members) == "table":
            return SetReply(self.to_reply(key, resp3_caller, resp3_script, depth + 1) for key in members)
        items: list[object] = []
        index = 1
        while True:
            item = field(value, index)
            if item is None:
                break
            items.append(self.to_reply(item, resp3_caller, resp3_script, depth + 1))
            index += 1
        return items

    # --- reply → Lua -------------------------------------------------------------------------

    def to_lua(self, reply: Any, resp3: bool) -> object:
        """redisProtocolToLuaType: a command's reply as the script sees it."""
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if reply is None or reply is NullArray:
            return None if resp3 else False
        if kind is SimpleString:
            return self.table_from({b"ok": bytes(reply)})
        if kind is ErrorReply:
            return self.table_from({b"err": bytes(reply)})
        if kind is list or (kind is SetReply and not resp3):
            return self.table_from([self.to_lua(item, resp3) for item in reply])
        if kind is dict:
            assert isinstance(reply, dict)
            if resp3:
                pairs = {self._key(k): self.to_lua(v, resp3) for k, v in reply.items()}
                return self.table_from({b"map": self.table_from(pairs)})
            flat: list[object] = []
            for k, v in reply.items():
                flat += (self.to_lua(k, resp3), self.to_lua(v, resp3))
            return self.table_from(flat)
        if kind is SetReply:
            return self.table_from({b"set": self.table_from({self._key(k): True for k in reply})})
        if kind is float:
            assert isinstance(reply, float)
            return self.table_from({b"double": reply}) if resp3 else format_double(reply)
        if kind is bool:
            return reply if resp3 else int(reply)
        if kind is Verbatim:
            if resp3:
                inner = self.table_from({b"format": b"txt", b"string": bytes(reply)})
                return self.table_from({b"verbatim_string": inner})
            return bytes(reply)
        if isinstance(reply, bytes):
            return bytes(reply)
        if isinstance(reply, str):
            return reply.encode()
        return None

    def _key(self, key: object) -> object:
        converted = self.to_lua(key, True)
        return converted if isinstance(converted, (bytes, int, bool)) else repr(key).encode()

    # --- the callables the Lua side calls ------------------------------------------------------

    def _call(self, *args: object) -> object:
        """redis.call: the reply, or a Lua error (the exception ``_unwrap`` turns back into the table)."""
        failed, reply = self._command(args)
        if failed:
            raise _RaisedTable(reply)
        return reply

    def _pcall(self, *args: object) -> object:
        return self._command(args)[1]

    @staticmethod
    def _unwrap(error: object) -> object:
        return error.table if isinstance(error, _RaisedTable) else error

    def _command(self, args: tuple[object, ...]) -> tuple[bool, object]:
        host = self.host
        if host is None:
            return True, self._error(b"ERR redis.call/pcall can only be called inside a script invocation")
        if not args:
            return True, self._error(b"ERR Please specify at least one argument for this redis lib call")
        argv: list[bytes] = []
        for arg in args:
            if type(arg) is bytes:
                argv.append(arg)
            elif type(arg) is int or type(arg) is float:
                argv.append(b"%.17g" % arg)
            else:
                return True, self._error(b"ERR Lua redis lib command arguments must be strings or integers")
        resp3 = self.resp == 3
        reply, rejected = host.call(argv, resp3)
        if rejected:
            assert isinstance(reply, bytes)
            return True, self.table_from({b"err": error_table_text(reply), _COUNTED: True})
        if type(reply) is ErrorReply:
            return True, self.table_from({b"err": bytes(reply), _COUNTED: True})
        return False, self.to_lua(reply, resp3)

    def _error(self, text: bytes) -> object:
        return self.table_from({b"err": text})

    def _raise(self, text: bytes) -> NoReturn:
        raise _RaisedTable(self._error(text))

    def _log(self, *args: object) -> None:
        """redis.log(level, message...)."""
        if len(args) < 2:
            self._raise(b"ERR redis.log() requires two arguments or more.")
        level = _lua_number(args[0])
        if level is None:
            self._raise(b"ERR First argument must be a number (log level).")
        if not 0 <= int(level) <= 3:
            self._raise(b"ERR Invalid debug level.")
        parts = [a if isinstance(a, bytes) else b"%.14g" % a for a in args[1:] if isinstance(a, (bytes, int, float))]
        if self.host is not None:
            self.host.log(int(level), b" ".join(parts))

    def _setresp(self, *args: object) -> None:
        if len(args) != 1:
            self._raise(b"ERR redis.setresp() requires one argument.")
        version = _lua_number(args[0])
        if version not in (2, 3):
            self._raise(b"ERR RESP version must be 2 or 3.")
        self.resp = int(version)

    def _set_repl(self, *args: object) -> None:
        if len(args) != 1:
            self._raise(b"ERR redis.set_repl() requires two arguments.")
        flags = _lua_number(args[0])
        if flags is None or flags != int(flags) or not 0 <= flags <= 3:
            self._raise(b"ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
        self.repl = int(flags)

    def _load_expired(self) -> bool:
        return time.monotonic() > self._load_deadline

    def _tick(self) -> bool:
        return self.host is not None and self.host.tick()

    def _random(self) -> float:
        self._rand = (0x5DEECE66D * self._rand + 0xB) & ((1 << 48) - 1)
        return ((self._rand >> 17) % INT32_MAX) / INT32_MAX

    def _seed(self, seed: int) -> None:
        self._rand = ((int(seed) & 0xFFFFFFFF) << 16) | 0x330E

    def _sha1(self, *args: object) -> bytes:
        if len(args) != 1:
            self._raise(b"ERR wrong number of arguments")
        value = args[0]
        data = value if isinstance(value, bytes) else (b"%.14g" % value if isinstance(value, (int, float)) else b"")
        return sha1hex(data).encode()

    def _acl(self, *args: object) -> bool | None:
        argv = [a if isinstance(a, bytes) else b"%.17g" % a for a in args if isinstance(a, (bytes, int, float))]
        if self.host is None or not self.host.acl_check(argv):
            return None
        return True

    def memory(self) -> int:
        used: int = self.runtime.get_memory_used() or 0
        return used


INT32_MAX: Final = 2**31 - 1
GC_PERIOD: Final = 50
LOAD_TIMEOUT: Final = 0.5  # FUNCTION LOAD's limit on running a library's code (LOAD_TIMEOUT_MS)
_COUNTED: Final = b"ignore_error_stats_update"  # script_lua.c's field of an error table
