"""Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and the CLIENT family."""

from __future__ import annotations

import hmac
from typing import Final

from kvserver.commands.args import parse_int
from kvserver.commands.registry import (
    ADMIN,
    ALLOW_BUSY,
    FAST,
    LOADING,
    NO_AUTH,
    NOSCRIPT,
    STALE,
    SYNTAX,
    CommandError,
    Context,
    arity_error,
    command,
    container,
)
from kvserver.protocol import OK, PONG, ErrorReply, SimpleString, Verbatim
from kvserver.state import REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT, ClientState

CONNECTION: Final = "connection"
REDIS_VERSION: Final = "7.0.15"
WRONGPASS: Final = "WRONGPASS invalid username-password pair or user is disabled."
_ALWAYS: Final = (FAST, LOADING, STALE)


@command("ping", -1, (FAST,), keys=(0, 0, 0), group=CONNECTION, summary="Ping the server")
def ping_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) > 2:
        raise arity_error("ping")
    if client.subs is not None and not client.resp3:  # RESP2 subscribed mode: a message-shaped reply
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


@command("echo", 2, _ALWAYS, keys=(0, 0, 0), group=CONNECTION, summary="Echo the given string")
def echo_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return argv[1]


def check_password(ctx: Context, username: bytes, password: bytes) -> bool:
    """The only user is "default"; with no requirepass it accepts any password, as Redis does."""
    if username != b"default":
        return False
    # CONFIG SET keeps a value's bytes as surrogates: any byte string is a password, as in Redis
    required = ctx.config.requirepass.encode("utf-8", "surrogateescape")
    return not required or hmac.compare_digest(password, required)


@command(
    "auth",
    -2,
    (NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=CONNECTION,
    summary="Authenticate to the server",
)
def auth_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """AUTH [username] password"""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2:
        if not ctx.config.requirepass:
            raise CommandError(
                "ERR AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            )
        username, password = b"default", argv[1]
    else:
        username, password = argv[1], argv[2]
    if not check_password(ctx, username, password):
        raise CommandError(WRONGPASS)
    client.authenticated = True
    return OK


def validate_client_name(name: bytes) -> None:
    if any(c < 33 or c > 126 for c in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


@command(
    "hello",
    -1,
    (NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="6.0.0",
    summary="Handshake with Redis",
)
def hello_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """HELLO [protover [AUTH username password] [SETNAME clientname]]"""
    version = 0
    if len(argv) >= 2:
        version = parse_int(argv[1], "ERR Protocol version is not an integer or out of range")
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    credentials: tuple[bytes, bytes] | None = None
    name: bytes | None = None
    j = 2
    while j < len(argv):
        opt = argv[j].upper()
        more = len(argv) - 1 - j
        if opt == b"AUTH" and more >= 2:
            credentials = (argv[j + 1], argv[j + 2])
            j += 2
        elif opt == b"SETNAME" and more:
            name = argv[j + 1]
            validate_client_name(name)
            j += 1
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[j].decode('utf-8', 'surrogateescape')}'")
        j += 1
    if credentials is not None:
        if not check_password(ctx, *credentials):
            raise CommandError(WRONGPASS)
        client.authenticated = True
    if not client.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
    if name is not None:
        client.name = name
    if version:
        client.resp3 = version == 3
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": 3 if client.resp3 else 2,
        b"id": client.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


@command(
    "select",
    2,
    (LOADING, STALE, FAST),
    keys=(0, 0, 0),
    group=CONNECTION,
    summary="Change the selected database for the current connection",
)
def select_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    index = parse_int(argv[1])
    if not -(2**31) <= index < 2**31:  # Redis's getIntFromObject
        raise CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if not 0 <= index < ctx.config.databases:
        raise CommandError("ERR DB index is out of range")
    client.db = index  # the dispatcher switches to its keyspace before the client's next command
    return OK


@command(
    "quit",
    -1,
    (ALLOW_BUSY, NOSCRIPT, LOADING, STALE, FAST, NO_AUTH),
    keys=(0, 0, 0),
    group=CONNECTION,
    summary="Close the connection",
)
def quit_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    client.close()
    return OK


@command(
    "reset",
    1,
    (NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="6.2.0",
    summary="Reset the connection",
)
def reset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    client.multi = None
    client.exec_error = False
    ctx.unwatch(client)
    ctx.pubsub.drop(client)  # subscriptions and MONITOR end, silently
    client.db = 0
    client.name = b""
    client.resp3 = False
    client.authenticated = not ctx.config.requirepass
    client.reply_mode = REPLY_ON
    client.no_evict = False
    return SimpleString(b"RESET")


# --- CLIENT ------------------------------------------------------------------------------------

_CLIENT_HELP: Final = [
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect the current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
]

container(
    "client",
    -2,
    group=CONNECTION,
    since="2.4.0",
    summary="A container for client connection commands",
    help=_CLIENT_HELP,
)


@command(
    "id",
    2,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="5.0.0",
    parent="client",
    summary="Returns the client ID for the current connection",
)
def client_id_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return client.id


@command(
    "getname",
    2,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="2.6.9",
    parent="client",
    summary="Get the current connection name",
)
def client_getname_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return client.name or None


@command(
    "setname",
    3,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="2.6.9",
    parent="client",
    summary="Set the current connection name",
)
def client_setname_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    validate_client_name(argv[2])
    client.name = argv[2]
    return OK


@command(
    "setinfo",
    4,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="7.2.0",
    parent="client",
    summary="Set client or connection specific info",
)
def client_setinfo_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    attr = argv[2].upper()
    value = argv[3]
    if attr not in (b"LIB-NAME", b"LIB-VER"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'surrogateescape')}'")
    if any(c < 33 or c > 126 for c in value):
        raise CommandError(f"ERR {attr.decode().lower()} cannot contain spaces, newlines or special characters.")
    if attr == b"LIB-NAME":
        client.lib_name = value
    else:
        client.lib_ver = value
    return OK


@command(
    "info",
    2,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="6.2.0",
    parent="client",
    summary="Returns information about the current client connection.",
)
def client_info_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return Verbatim((client.describe(argv) + "\n").encode())


@command(
    "list",
    -2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="2.4.0",
    complexity="O(N) where N is the number of client connections",
    parent="client",
    summary="Get the list of client connections",
)
def client_list_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id ...]"""
    clients = list(ctx.clients.by_id.values())
    if len(argv) > 2:
        opt = argv[2].upper()
        if opt == b"TYPE" and len(argv) == 4:
            kind = _client_type(argv[3])
            clients = [c for c in clients if c.kind == kind]
        elif opt == b"ID" and len(argv) > 3:
            wanted = set()
            for raw in argv[3:]:
                wanted.add(parse_int(raw, "ERR Invalid client ID"))
            clients = [c for c in clients if c.id in wanted]
        else:
            raise CommandError(SYNTAX)
    return Verbatim("".join(c.describe(argv if c is client else None) + "\n" for c in clients).encode())


def _client_type(raw: bytes) -> str:
    """A TYPE argument of CLIENT LIST / KILL, as ClientState.kind names it."""
    kind = raw.lower()
    if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
        raise CommandError(f"ERR Unknown client type '{raw.decode('utf-8', 'surrogateescape')}'")
    return "replica" if kind == b"slave" else kind.decode()


def _on_off(ctx: Context, client: ClientState, argv: list[bytes]) -> bool:
    if argv[2].lower() not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    return argv[2].lower() == b"on"


_REPLY_MODES: Final = {b"on": REPLY_ON, b"off": REPLY_OFF, b"skip": REPLY_SKIP_NEXT}


@command(
    "reply",
    3,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="3.2.0",
    parent="client",
    summary="Instruct the server whether to reply to commands",
)
def client_reply_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """CLIENT REPLY ON|OFF|SKIP: ON answers OK; OFF and SKIP answer nothing (the connection drops
    the reply, see ClientState.reply_suppressed)."""
    mode = _REPLY_MODES.get(argv[2].lower())
    if mode is None:
        raise CommandError(SYNTAX)
    if not (mode == REPLY_SKIP_NEXT and client.reply_mode == REPLY_OFF):  # SKIP leaves OFF as it is
        client.reply_mode = mode
    return OK


@command(
    "no-evict",
    3,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="7.0.0",
    parent="client",
    summary="Set client eviction mode for the current connection",
)
def client_no_evict_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    client.no_evict = _on_off(ctx, client, argv)
    return OK


@command(
    "no-touch",
    3,
    (NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="7.2.0",
    parent="client",
    summary="Controls whether commands sent by the client will alter the LRU/LFU of the keys they access.",
)
def client_no_touch_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    _on_off(ctx, client, argv)
    return OK


@command(
    "kill",
    -3,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="2.4.0",
    parent="client",
    summary="Kill the connection of a client",
)
def client_kill_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [TYPE type] [USER user]
    [SKIPME yes|no] (Redis 7.0 has no MAXAGE: a syntax error, as there)"""
    if len(argv) == 3:
        target = argv[2].decode("utf-8", "replace")
        victims = [c for c in ctx.clients.by_id.values() if c.addr == target]
        if not victims:
            raise CommandError("ERR No such client")
        victims[0].close()
        return OK
    if len(argv) % 2 != 0:
        raise CommandError(SYNTAX)
    ids: int | None = None
    addr = laddr = kind = None
    skipme = True
    for j in range(2, len(argv), 2):
        opt, raw = argv[j].upper(), argv[j + 1]
        if opt == b"ID":
            ids = parse_int(raw, "ERR client-id should be greater than 0")
            if ids <= 0:
                raise CommandError("ERR client-id should be greater than 0")
        elif opt == b"ADDR":
            addr = raw.decode("utf-8", "replace")
        elif opt == b"LADDR":
            laddr = raw.decode("utf-8", "replace")
        elif opt == b"TYPE":
            kind = _client_type(raw)
        elif opt == b"USER":
            if raw != b"default":  # the only user
                raise CommandError(f"ERR No such user '{raw.decode('utf-8', 'surrogateescape')}'")
        elif opt == b"SKIPME" and raw.lower() in (b"yes", b"no"):
            skipme = raw.lower() == b"yes"
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for other in list(ctx.clients.by_id.values()):
        if (ids is not None and other.id != ids) or (addr is not None and other.addr != addr):
            continue
        if (laddr is not None and other.laddr != laddr) or (skipme and other is client):
            continue
        if kind is not None and other.kind != kind:
            continue
        other.close()
        killed += 1
    return killed


@command(
    "unblock",
    -3,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=CONNECTION,
    since="5.0.0",
    parent="client",
    complexity="O(log N) where N is the number of client connections",
    summary="Unblock a client blocked in a blocking command from a different connection",
)
def client_unblock_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """CLIENT UNBLOCK client-id [TIMEOUT | ERROR]"""
    target = ctx.clients.by_id.get(parse_int(argv[2]))
    mode = argv[3].upper() if len(argv) == 4 else b"TIMEOUT"
    if len(argv) > 4 or mode not in (b"TIMEOUT", b"ERROR"):
        raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    if target is None or target.blocked is None:
        return 0
    if mode == b"ERROR":
        reply: object = ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
    else:
        reply = target.blocked.timeout_reply
    return int(ctx.unblock(target, reply))
