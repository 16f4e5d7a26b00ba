"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION, FCALL, FCALL_RO (Redis 7.0).

The Lua engine is ``kvserver.scripting.engine``; this module is its host: ``redis.call`` runs a
command through the dispatcher (``ctx.call``) with the script client, after script.c's checks
(unknown command, arity, ``noscript``, writes in a read-only script, deny-oom). A script's writes
are one unit in the log, as a MULTI/EXEC (``begin_unit``/``end_unit``): replay sees the effects,
never the script. Without lupa every command here answers ``UNAVAILABLE``.

Functions (FUNCTION LOAD ...) live in their own Lua state, so SCRIPT FLUSH leaves them; FUNCTION
LOAD/DELETE/FLUSH/RESTORE are logged as themselves, and replaying them loads the libraries again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

from kvserver.commands.args import parse_int
from kvserver.commands.registry import (
    ALLOW_BUSY,
    DENYOOM,
    NOSCRIPT,
    READONLY,
    SKIP_MONITOR,
    STALE,
    TABLE,
    WRITE,
    CommandError,
    CommandSpec,
    Context,
    KeyNum,
    Variant,
    command,
    container,
)
from kvserver.glob import compile_glob
from kvserver.protocol import OK, ErrorReply, SimpleString, split_args
from kvserver.scripting import UNAVAILABLE, available
from kvserver.scripting.engine import (
    ALLOW_OOM,
    EVAL_COMPAT,
    FLAG_NAMES,
    NO_WRITES,
    LuaState,
    ScriptError,
    error_table_text,
    parse_shebang,
    sha1hex,
)
from kvserver.state import ClientState

SCRIPTING: Final = "scripting"
NOSCRIPT_ERROR: Final = "NOSCRIPT No matching script. Please use EVAL."
NOTBUSY: Final = "NOTBUSY No scripts in execution right now."
SLOW_EVAL: Final = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
SLOW_FUNCTION: Final = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
UNKILLABLE: Final = (
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait "
    "the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
)
# the instruction count between two checks of the clock (script_lua.c's hook, every 100000)
HOOK_INSTRUCTIONS: Final = 100_000
_MAY_REPLICATE: Final = frozenset({"publish", "spublish", "pfcount"})
_SCRIPT_FLAGS: Final = (NOSCRIPT, STALE, SKIP_MONITOR, "no_mandatory_keys", "movablekeys")
_LOG_LEVELS: Final = (logging.DEBUG, logging.DEBUG + 5, logging.INFO, logging.WARNING)
_OOM: Final = "OOM command not allowed when used memory > 'maxmemory'."
log = logging.getLogger("kvserver")


@dataclass(slots=True)
class Script:
    body: bytes
    flags: int
    function: Any


@dataclass(slots=True)
class Function:
    name: bytes
    callback: Any
    flags: int
    description: bytes | None
    library: Library


@dataclass(slots=True)
class Library:
    name: bytes
    code: bytes
    functions: dict[bytes, Function] = field(default_factory=dict)


class Run:
    """The script running now (script.c's scriptRunCtx)."""

    __slots__ = ("allow_oom", "argv", "busy", "caller", "dirty", "eval_mode", "killed", "name", "read_only", "start")

    def __init__(
        self, caller: ClientState, argv: list[bytes], name: str, eval_mode: bool, read_only: bool, allow_oom: bool
    ) -> None:
        self.caller = caller
        self.argv = argv
        self.name = name
        self.eval_mode = eval_mode
        self.read_only = read_only
        self.allow_oom = allow_oom
        self.start = time.monotonic()
        self.dirty = False  # it ran a write command: SCRIPT KILL can't stop it
        self.killed = False
        self.busy = False  # past busy-reply-threshold: others get BUSY


class Scripts:
    """A server's scripting state: the script cache, the libraries, and the running script."""

    def __init__(self) -> None:
        self.lua: LuaState | None = None
        self.scripts: dict[str, Script] = {}
        self.functions_lua: LuaState | None = None
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, Function] = {}
        self.running: Run | None = None
        self.client = ClientState(0, "lua")
        self.client.script = True

    def state(self) -> LuaState:
        if self.lua is None:
            self.lua = LuaState()
        return self.lua

    def function_state(self) -> LuaState:
        if self.functions_lua is None:
            self.functions_lua = LuaState()
        return self.functions_lua

    def load(self, body: bytes) -> tuple[str, Script]:
        """The script's SHA1 and its compiled form (compiled on first sight, then cached)."""
        sha = sha1hex(body)
        script = self.scripts.get(sha)
        if script is None:
            try:
                flags, shebang = parse_shebang(body)
                function = self.state().compile(body[shebang:], b"@user_script")
            except ScriptError as exc:
                raise CommandError(exc.text) from None
            script = self.scripts[sha] = Script(body, flags, function)
        return sha, script

    def flush(self) -> None:
        self.scripts.clear()
        self.lua = None  # a new Lua state on next use, as Redis's scriptingReset


def _state_of(ctx: Context) -> Scripts | None:
    scripts: Scripts | None = getattr(ctx, "_scripts", None)  # kept on the dispatcher, made on first use
    return scripts


def _error(text: bytes) -> CommandError:
    return CommandError(text.decode("utf-8", "surrogateescape"))


def scripts_of(ctx: Context) -> Scripts:
    """The server's scripting state; UNAVAILABLE without lupa."""
    scripts: Scripts | None = getattr(ctx, "_scripts", None)
    if scripts is None:
        if not available():
            raise CommandError(UNAVAILABLE)
        scripts = Scripts()
        setattr(ctx, "_scripts", scripts)  # noqa: B010 - an attribute the Context protocol doesn't declare
    return scripts


def running_script(ctx: Context) -> Run | None:
    """The script running now, if any (the server's busy handling asks)."""
    scripts = _state_of(ctx)
    return scripts.running if scripts is not None else None


def library_records(ctx: Context) -> list[list[bytes]]:
    """The libraries as the records that load them (a log rewrite writes them first)."""
    scripts = _state_of(ctx)
    if scripts is None:
        return []
    return [[b"FUNCTION", b"LOAD", b"REPLACE", library.code] for library in scripts.libraries.values()]


def script_memory(ctx: Context) -> dict[str, object]:
    """INFO memory's scripting fields (Redis 7.0's names)."""
    scripts = _state_of(ctx)
    eval_vm = scripts.lua.memory() if scripts is not None and scripts.lua is not None else 0
    functions_vm = scripts.functions_lua.memory() if scripts is not None and scripts.functions_lua else 0
    return {  # in Redis's order
        "used_memory_lua": eval_vm,
        "used_memory_vm_eval": eval_vm,
        "number_of_cached_scripts": len(scripts.scripts) if scripts is not None else 0,
        "number_of_functions": len(scripts.functions) if scripts is not None else 0,
        "number_of_libraries": len(scripts.libraries) if scripts is not None else 0,
        "used_memory_vm_functions": functions_vm,
        "used_memory_vm_total": eval_vm + functions_vm,
    }


# --- the host a running script calls --------------------------------------------------------------


def _lookup(argv: list[bytes]) -> CommandSpec | None:
    spec = TABLE.get(argv[0].lower().decode("latin-1"))
    if spec is not None and spec.subcommands:
        if len(argv) < 2:
            return spec
        return spec.subcommands.get(argv[1].lower())
    return spec


class _Host:
    """What ``redis.call`` does for one run: script.c's checks, then the dispatcher."""

    __slots__ = ("_next_check", "ctx", "run", "scripts")

    def __init__(self, ctx: Context, scripts: Scripts, run: Run) -> None:
        self.ctx = ctx
        self.scripts = scripts
        self.run = run
        self._next_check = 0.0

    def call(self, argv: list[bytes], resp3: bool) -> tuple[object, bool]:
        spec = _lookup(argv)
        refusal = self._refusal(spec, len(argv))
        ctx = self.ctx
        if refusal is not None:  # counted as Redis's scriptCall does: rejected, and an error reply
            ctx.stats.total_error_replies += 1
            ctx.monitoring.rejected(spec.name if spec is not None else None)
            ctx.monitoring.error(error_table_text(refusal))
            return refusal, True
        assert spec is not None
        if spec.is_write:
            self.run.dirty = True
        client = self.scripts.client
        client.resp3 = resp3
        return ctx.call(client, argv), False

    def _refusal(self, spec: CommandSpec | None, argc: int) -> bytes | None:
        """script.c's checks before a command from a script, in its order."""
        if spec is None or (spec.handler is None and not spec.subcommands):
            return b"Unknown Redis command called from script"
        if not spec.arity_ok(argc):
            return b"Wrong number of args calling Redis command from script"
        if NOSCRIPT in spec.flags:
            return b"This Redis command is not allowed from script"
        run = self.run
        if run.killed:  # (SHUTDOWN NOSAVE: nothing more may be written)
            return b"Script killed by user with SCRIPT KILL..."
        if (spec.is_write or spec.name in _MAY_REPLICATE) and run.read_only:
            return b"Write commands are not allowed from read-only scripts."
        ctx = self.ctx
        if spec.denyoom and not run.allow_oom and not run.dirty and ctx.config.maxmemory:
            if ctx.memory.over_limit(ctx):
                return b"-" + _OOM.encode()
        return None

    def log(self, level: int, message: bytes) -> None:
        log.log(_LOG_LEVELS[level], "%s", message.decode("utf-8", "replace"))

    def tick(self) -> bool:
        run = self.run
        if run.killed:
            return True
        threshold = self.ctx.config.busy_reply_threshold
        if threshold > 0 and time.monotonic() - run.start >= threshold / 1000:
            if not run.busy:
                run.busy = True
                log.warning(
                    "Slow script detected: still in execution after %d milliseconds. You can try killing the "
                    "script using the %s command. Script name is: %s.",
                    int((time.monotonic() - run.start) * 1000),
                    "SCRIPT KILL" if run.eval_mode else "FUNCTION KILL",
                    run.name,
                )
            self.ctx.serve_while_busy()
        return run.killed

    def acl_check(self, argv: list[bytes]) -> bool:
        spec = _lookup(argv) if argv else None
        return spec is not None and spec.arity_ok(len(argv))


def _numkeys(argv: list[bytes], error: str = "ERR value is not an integer or out of range") -> int:
    numkeys = parse_int(argv[2], error)
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return numkeys


def _prepare(ctx: Context, flags: int, ro: bool) -> None:
    """scriptPrepareForRun's refusals for a script that declared its flags."""
    if flags & EVAL_COMPAT:
        return
    if not flags & NO_WRITES:
        if ro:
            raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
    if ctx.config.maxmemory and not flags & (ALLOW_OOM | NO_WRITES) and ctx.memory.over_limit(ctx):
        raise CommandError("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'")


def _feed_monitors(ctx: Context, client: ClientState, argv: list[bytes]) -> None:
    """EVAL and FCALL show in MONITOR before the commands they run (as evalCommand feeds them)."""
    if ctx.pubsub.monitors:
        origin = f"unix:{ctx.config.unixsocket}" if client.unix else client.addr
        ctx.pubsub.feed_monitors(client.db, origin, argv)


def _run(
    ctx: Context,
    scripts: Scripts,
    lua: LuaState,
    function: Any,
    client: ClientState,
    argv: list[bytes],
    *,
    name: str,
    flags: int,
    ro: bool,
    eval_mode: bool,
    numkeys: int,
) -> object:
    _prepare(ctx, flags, ro)
    compat = bool(flags & EVAL_COMPAT)
    run = Run(
        client,
        argv,
        name,
        eval_mode,
        read_only=ro or (not compat and bool(flags & NO_WRITES)),
        allow_oom=not compat and bool(flags & ALLOW_OOM),
    )
    scripts.client.db = client.db
    scripts.client.resp3 = False
    nested = ctx.in_transaction  # EVAL inside MULTI: the transaction's unit holds it
    if not nested:
        ctx.begin_unit()
    scripts.running = run
    try:
        reply = lua.run(
            function,
            argv[3 : 3 + numkeys],
            argv[3 + numkeys :],
            _Host(ctx, scripts, run),
            name=name,
            resp3=client.resp3,
            eval_mode=eval_mode,
            hook=HOOK_INSTRUCTIONS if ctx.config.busy_reply_threshold > 0 else 0,
        )
    except ScriptError as exc:
        raise CommandError(exc.text, exc.counted) from None
    finally:
        scripts.running = None
        if not nested:
            ctx.end_unit()
    if type(reply) is ErrorReply:  # an error the script returned: a failed call, as Redis counts it
        raise CommandError(reply.decode("utf-8", "surrogateescape"), lua.error_counted)
    return reply


# --- EVAL and friends -----------------------------------------------------------------------------


@command(
    [
        Variant("eval", "Execute a Lua script server side", evalsha=False, ro=False),
        Variant("evalsha", "Execute a Lua script server side", evalsha=True, ro=False),
    ],
    -3,
    _SCRIPT_FLAGS,
    keys=(0, 0, 0),
    find_keys=KeyNum(2),  # numkeys, then the keys (COMMAND GETKEYS)
    group=SCRIPTING,
    since="2.6.0",
    complexity="Depends on the script that is executed.",
)
@command(
    [
        Variant("eval_ro", "Execute a read-only Lua script server side", evalsha=False, ro=True),
        Variant("evalsha_ro", "Execute a read-only Lua script server side", evalsha=True, ro=True),
    ],
    -3,
    (*_SCRIPT_FLAGS, READONLY),
    keys=(0, 0, 0),
    find_keys=KeyNum(2),  # numkeys, then the keys (COMMAND GETKEYS)
    group=SCRIPTING,
    since="7.0.0",
    complexity="Depends on the script that is executed.",
)
def eval_command(ctx: Context, client: ClientState, argv: list[bytes], *, evalsha: bool, ro: bool) -> object:
    scripts = scripts_of(ctx)
    _feed_monitors(ctx, client, argv)
    if evalsha and len(argv[1]) != 40:
        raise CommandError(NOSCRIPT_ERROR)
    numkeys = _numkeys(argv)
    if evalsha:
        sha = argv[1].lower().decode("latin-1")
        script = scripts.scripts.get(sha)
        if script is None:
            raise CommandError(NOSCRIPT_ERROR)
    else:
        sha, script = scripts.load(argv[1])
    return _run(
        ctx,
        scripts,
        scripts.state(),
        script.function,
        client,
        argv,
        name=sha,
        flags=script.flags,
        ro=ro,
        eval_mode=True,
        numkeys=numkeys,
    )


container(
    "script",
    -2,
    group=SCRIPTING,
    summary="A container for Lua scripts management commands",
    since="2.6.0",
    help=[
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ],
)


@command(
    "load",
    3,
    (NOSCRIPT, STALE),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="script",
    since="2.6.0",
    complexity="O(N) with N being the length in bytes of the script body.",
    summary="Load the specified Lua script into the script cache.",
)
def script_load_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    sha, _ = scripts_of(ctx).load(argv[2])
    return sha.encode()


@command(
    "exists",
    -3,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="script",
    since="2.6.0",
    complexity="O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
    summary="Check existence of scripts in the script cache.",
)
def script_exists_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    cache = scripts_of(ctx).scripts
    return [int(sha.lower().decode("latin-1") in cache) for sha in argv[2:]]


def _subcommand_syntax(argv: list[bytes]) -> CommandError:
    """addReplySubcommandSyntaxError's text."""
    return _error(
        b"ERR unknown subcommand or wrong number of arguments for '%b'. Try %b HELP." % (argv[1][:128], argv[0].upper())
    )


def _flush_mode(argv: list[bytes], error: str) -> None:
    if len(argv) > 3:
        raise _subcommand_syntax(argv)
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise CommandError(error)


@command(
    "flush",
    -2,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="script",
    since="2.6.0",
    complexity="O(N) with N being the number of scripts in cache",
    summary="Remove all the scripts from the script cache.",
)
def script_flush_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    _flush_mode(argv, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    scripts.flush()
    return OK


@command(
    "kill",
    2,
    (NOSCRIPT, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="script",
    since="2.6.0",
    summary="Kill the script currently in execution.",
)
def script_kill_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _kill(scripts_of(ctx), eval_mode=True)


def _kill(scripts: Scripts, *, eval_mode: bool) -> object:
    """scriptKill: only a script that hasn't written, and only by its own kind of KILL."""
    run = scripts.running
    if run is None:
        raise CommandError(NOTBUSY)
    if run.dirty:
        raise CommandError(UNKILLABLE)
    if run.eval_mode != eval_mode:
        raise CommandError(SLOW_EVAL if run.eval_mode else SLOW_FUNCTION)
    run.killed = True
    return OK


@command(
    "debug",
    3,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="script",
    since="3.2.0",
    summary="Set the debug mode for executed scripts.",
)
def script_debug_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts_of(ctx)
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        raise CommandError("ERR kvserver has no Lua debugger (SCRIPT DEBUG YES|SYNC)")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


# --- functions ------------------------------------------------------------------------------------

_NAME_ERROR: Final = (
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
)


def _valid_name(name: bytes) -> bool:
    return bool(name) and all(c == 95 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 for c in name)


def _library_metadata(code: bytes) -> tuple[bytes, bytes]:
    """functionExtractLibMetaData: the engine and the library name of ``#!lua name=...``."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    end = code.find(b"\n")
    if end < 0:
        raise CommandError("ERR Invalid library metadata")
    parts = split_args(code[:end])  # sdssplitargs: `name="foo"` is foo
    if not parts:
        raise CommandError("ERR Invalid library metadata")
    engine, name = parts[0][2:], None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise CommandError("ERR Invalid metadata value, name argument was given multiple times")
            name = part[5:]
            continue
        raise _error(b"ERR Invalid metadata value given: %b" % part)
    if name is None:
        raise CommandError("ERR Library name was not given")
    return engine, name


def _register(scripts: Scripts, code: bytes, replace: bool) -> bytes:
    """Compile and link a library (functionsCreateWithLibraryCtx); its name."""
    engine, name = _library_metadata(code)
    if not _valid_name(name):
        raise CommandError(_NAME_ERROR)
    if engine.upper() != b"LUA":
        raise _error(b"ERR Engine '%b' not found" % engine)
    old = scripts.libraries.get(name)
    if old is not None and not replace:
        raise _error(b"ERR Library '%b' already exists" % name)
    lua = scripts.function_state()
    library = Library(name, code)
    try:
        registered = lua.load_library(code[code.find(b"\n") :])
    except ScriptError as exc:
        raise CommandError(exc.text) from None
    if not registered:
        raise CommandError("ERR No functions registered")
    for fname, callback, flags, description in registered:
        library.functions[fname] = Function(fname, callback, flags, description, library)
    for fname in library.functions:
        owner = scripts.functions.get(fname.lower())
        if owner is not None and owner.library is not old:
            raise _error(b"ERR Function %b already exists" % fname)
    if old is not None:
        _unlink(scripts, old)
    scripts.libraries[name] = library
    scripts.functions.update((fname.lower(), f) for fname, f in library.functions.items())
    return name


def _unlink(scripts: Scripts, library: Library) -> None:
    del scripts.libraries[library.name]
    for fname in library.functions:
        scripts.functions.pop(fname.lower(), None)


container(
    "function",
    -2,
    group=SCRIPTING,
    summary="A container for function commands",
    since="7.0.0",
    help=[
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION "
        "RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
    ],
)


@command(
    "load",
    -3,
    (WRITE, DENYOOM, NOSCRIPT),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    complexity="O(1) (considering compilation time is redundant)",
    summary="Create a function with the given arguments (name, code, description)",
)
def function_load_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    replace = False
    position = 2
    while position < len(argv) - 1:
        option = argv[position]
        position += 1
        if option.lower() == b"replace":
            replace = True
            continue
        raise _error(b"ERR Unknown option given: %b" % option)
    if position >= len(argv):
        raise CommandError("ERR Function code is missing")
    name = _register(scripts, argv[position], replace)
    ctx.propagate([b"FUNCTION", b"LOAD", b"REPLACE", argv[position]], [])
    return name


@command(
    "delete",
    3,
    (WRITE, NOSCRIPT),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    summary="Delete a function by name",
)
def function_delete_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    library = scripts.libraries.get(argv[2])
    if library is None:
        raise CommandError("ERR Library not found")
    _unlink(scripts, library)
    ctx.propagate([b"FUNCTION", b"DELETE", argv[2]], [])
    return OK


@command(
    "flush",
    -2,
    (WRITE, NOSCRIPT),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    complexity="O(N) where N is the number of functions deleted",
    summary="Deleting all functions",
)
def function_flush_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    _flush_mode(argv, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    scripts.libraries.clear()
    scripts.functions.clear()
    scripts.functions_lua = None
    ctx.propagate([b"FUNCTION", b"FLUSH"], [])
    return OK


@command(
    "list",
    -2,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    complexity="O(N) where N is the number of functions",
    summary="List information about all the functions",
)
def function_list_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    with_code = False
    pattern: bytes | None = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        if not with_code and arg.lower() == b"withcode":
            with_code = True
        elif pattern is None and arg.lower() == b"libraryname":
            if i >= len(argv) - 1:
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise _error(b"ERR Unknown argument %b" % arg)
        i += 1
    match = compile_glob(pattern, nocase=True) if pattern is not None else None
    reply: list[object] = []
    for library in scripts.libraries.values():
        if match is not None and not match(library.name):
            continue
        entry: dict[object, object] = {
            b"library_name": library.name,
            b"engine": b"LUA",
            b"functions": [
                {
                    b"name": f.name,
                    b"description": f.description,
                    b"flags": _flag_set(f.flags),
                }
                for f in library.functions.values()
            ],
        }
        if with_code:
            entry[b"library_code"] = library.code
        reply.append(entry)
    return reply


def _flag_set(flags: int) -> object:
    from kvserver.protocol import SetReply

    return SetReply(SimpleString(name) for name, bit in FLAG_NAMES.items() if flags & bit)


# FUNCTION DUMP's payload is Redis's (functions.c): per library RDB_OPCODE_FUNCTION2 and the code
# as an RDB string, then the RDB version (2 bytes) and a CRC64 (8 bytes, little endian): a dump
# restores into Redis 7.0 and back.
_FUNCTION2: Final = 245
_FUNCTION_PRE_GA: Final = 246
_RDB_VERSION: Final = 10
_CRC64_POLY: Final = 0x95AC9329AC4BC9B5  # crc64-jones, reflected (Redis's crc64.c)


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE: Final = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _rdb_length(length: int) -> bytes:
    if length < 1 << 6:
        return bytes((length,))
    if length < 1 << 14:
        return bytes((0x40 | length >> 8, length & 0xFF))
    if length <= 0xFFFFFFFF:
        return b"\x80" + length.to_bytes(4, "big")
    return b"\x81" + length.to_bytes(8, "big")


def _lzf_decompress(data: bytes, size: int) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            out += data[i : i + ctrl + 1]
            i += ctrl + 1
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            start = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if start < 0:
                raise ValueError("bad LZF back reference")
            for j in range(length + 2):
                out.append(out[start + j])
    if len(out) != size:
        raise ValueError("bad LZF length")
    return bytes(out)


def _read_rdb_string(payload: bytes, pos: int) -> tuple[bytes, int]:
    """An RDB string (plain, an encoded integer, or LZF) at ``pos``; the string and the next position."""
    first = payload[pos]
    kind = first >> 6
    if kind == 0:
        return payload[pos + 1 : pos + 1 + first], pos + 1 + first
    if kind == 1:
        length = ((first & 0x3F) << 8) | payload[pos + 1]
        return payload[pos + 2 : pos + 2 + length], pos + 2 + length
    if first in (0x80, 0x81):
        width = 4 if first == 0x80 else 8
        length = int.from_bytes(payload[pos + 1 : pos + 1 + width], "big")
        start = pos + 1 + width
        return payload[start : start + length], start + length
    encoding = first & 0x3F
    if encoding in (0, 1, 2):  # an integer stored in 1, 2 or 4 bytes
        width = 1 << encoding
        value = int.from_bytes(payload[pos + 1 : pos + 1 + width], "little", signed=True)
        return b"%d" % value, pos + 1 + width
    if encoding == 3:
        compressed, pos = _read_rdb_length(payload, pos + 1)
        size, pos = _read_rdb_length(payload, pos)
        return _lzf_decompress(payload[pos : pos + compressed], size), pos + compressed
    raise ValueError("unknown string encoding")


def _read_rdb_length(payload: bytes, pos: int) -> tuple[int, int]:
    first = payload[pos]
    if first >> 6 == 0:
        return first, pos + 1
    if first >> 6 == 1:
        return ((first & 0x3F) << 8) | payload[pos + 1], pos + 2
    width = 4 if first == 0x80 else 8
    return int.from_bytes(payload[pos + 1 : pos + 1 + width], "big"), pos + 1 + width


@command(
    "dump",
    2,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    complexity="O(N) where N is the number of functions",
    summary="Dump all functions into a serialized binary payload",
)
def function_dump_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    parts: list[bytes] = []
    for library in scripts.libraries.values():
        parts += (bytes((_FUNCTION2,)), _rdb_length(len(library.code)), library.code)
    payload = b"".join(parts) + _RDB_VERSION.to_bytes(2, "little")
    return payload + crc64(payload).to_bytes(8, "little")


@command(
    "restore",
    -3,
    (WRITE, DENYOOM, NOSCRIPT),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    complexity="O(N) where N is the number of functions on the payload",
    summary="Restore all the functions on the given payload",
)
def function_restore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    if len(argv) > 4:
        raise _subcommand_syntax(argv)
    policy = argv[3].lower() if len(argv) == 4 else b"append"
    if policy not in (b"flush", b"append", b"replace"):
        raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    payload = argv[2]
    footer = payload[-10:]
    if (
        len(payload) < 10
        or int.from_bytes(footer[:2], "little") > _RDB_VERSION
        or crc64(payload[:-8]).to_bytes(8, "little") != footer[2:]
    ):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    codes: list[bytes] = []
    body, pos = payload[:-10], 0
    try:
        while pos < len(body):
            kind = body[pos]
            if kind == _FUNCTION_PRE_GA:
                raise CommandError("ERR Pre-GA function format not supported")
            if kind != _FUNCTION2:
                raise CommandError("ERR given type is not a function")
            code, pos = _read_rdb_string(body, pos + 1)
            codes.append(code)
    except (IndexError, ValueError):
        raise CommandError("ERR failed loading the given functions payload") from None
    # all or nothing: the libraries are built on a copy, which replaces the live ones at the end
    trial = Scripts()
    trial.functions_lua = scripts.function_state()
    if policy != b"flush":
        trial.libraries = dict(scripts.libraries)
        trial.functions = dict(scripts.functions)
    for code in codes:
        try:
            _, name = _library_metadata(code)
        except CommandError:
            raise
        if policy == b"append" and name in trial.libraries:
            raise _error(b"ERR Library %b already exists" % name)
        _register(trial, code, replace=policy == b"replace")
    scripts.libraries, scripts.functions = trial.libraries, trial.functions
    nested = ctx.in_transaction
    if not nested:
        ctx.begin_unit()  # the restore is one unit in the log, as it is all or nothing here
    try:
        if policy == b"flush":
            ctx.propagate([b"FUNCTION", b"FLUSH"], [])
        for code in codes:
            ctx.propagate([b"FUNCTION", b"LOAD", b"REPLACE", code], [])
    finally:
        if not nested:
            ctx.end_unit()
    return OK


@command(
    "stats",
    2,
    (NOSCRIPT, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    summary="Return information about the function currently running (name, description, duration)",
)
def function_stats_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    scripts = scripts_of(ctx)
    run = scripts.running
    if run is not None and run.eval_mode:
        raise CommandError(SLOW_EVAL)
    running: object = None
    if run is not None:
        running = {
            b"name": run.name.encode(),
            b"command": list(run.argv),
            b"duration_ms": int((time.monotonic() - run.start) * 1000),
        }
    count = sum(len(library.functions) for library in scripts.libraries.values())
    return {
        b"running_script": running,
        b"engines": {b"LUA": {b"libraries_count": len(scripts.libraries), b"functions_count": count}},
    }


@command(
    "kill",
    2,
    (NOSCRIPT, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=SCRIPTING,
    parent="function",
    since="7.0.0",
    summary="Kill the function currently in execution.",
)
def function_kill_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return _kill(scripts_of(ctx), eval_mode=False)


@command(
    [Variant("fcall", "Invoke a function", ro=False)],
    -3,
    _SCRIPT_FLAGS,
    keys=(0, 0, 0),
    find_keys=KeyNum(2),  # numkeys, then the keys (COMMAND GETKEYS)
    group=SCRIPTING,
    since="7.0.0",
    complexity="Depends on the function that is executed.",
)
@command(
    [Variant("fcall_ro", "Invoke a read-only function", ro=True)],
    -3,
    (*_SCRIPT_FLAGS, READONLY),
    keys=(0, 0, 0),
    find_keys=KeyNum(2),  # numkeys, then the keys (COMMAND GETKEYS)
    group=SCRIPTING,
    since="7.0.0",
    complexity="Depends on the function that is executed.",
)
def fcall_command(ctx: Context, client: ClientState, argv: list[bytes], *, ro: bool) -> object:
    scripts = scripts_of(ctx)
    _feed_monitors(ctx, client, argv)
    function = scripts.functions.get(argv[1].lower())
    if function is None:
        raise CommandError("ERR Function not found")
    numkeys = _numkeys(argv, "ERR Bad number of keys provided")
    return _run(
        ctx,
        scripts,
        scripts.function_state(),
        function.callback,
        client,
        argv,
        name=function.name.decode("utf-8", "surrogateescape"),
        flags=function.flags,
        ro=ro,
        eval_mode=False,
        numkeys=numkeys,
    )
