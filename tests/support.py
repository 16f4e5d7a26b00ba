"""Test support: real server processes (kvserver and redis-server) on free ports, and raw sockets.

Nothing here mocks a server: every helper starts a real process and talks TCP to it.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

from kvserver.config import Config
from kvserver.database import Database, NoPersistence
from kvserver.protocol import ErrorReply, encode_command
from kvserver.reply_parser import NEED_DATA, ReplyParser
from kvserver.server import Connection, Server
from kvserver.state import ClientState
from kvsession.testing import ephemeral_range_start
from kvsession.testing import free_port as free_port  # below the ephemeral range: a restart gets it back

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from kvsession import AsyncSessionStore, Session
    from kvsession.asgi import RequestSession

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The suite runs on two pytest-xdist workers (pyproject's addopts). Tests whose bounds are timings
# (memory lagging frees, latency while a rewrite runs, kill -9 loops, expiry cycles) all go to one
# worker, and each runs while no other test of the run does (tests/conftest.py's lock).
TIMING_SENSITIVE = pytest.mark.xdist_group("timing-sensitive")


def require_tool(name: str) -> str:
    """The path of an external tool; missing means a skip locally and a failure in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install redis-server redis-tools)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def link_ioredis(directory: Path) -> None:
    """Make ``import "ioredis"`` work for node scripts in ``directory``: node_modules links to the
    install under ``$IOREDIS_PREFIX`` (``npm install --prefix <dir> ioredis@5.11.1``, as .ci/run
    does); missing: a skip locally, a failure in CI."""
    require_tool("node")
    modules = Path(os.environ.get("IOREDIS_PREFIX", "")) / "node_modules"
    if not (modules / "ioredis").is_dir():
        message = "ioredis is not installed: npm install --prefix <dir> ioredis@5.11.1; IOREDIS_PREFIX=<dir>"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    (directory / "node_modules").symlink_to(modules.resolve())


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def mount_tmpfs(point: Path, size: str) -> None:
    """Mount a small tmpfs at ``point`` (root needed: a skip locally, a failure in CI)."""
    point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
    if result.returncode != 0:
        message = f"cannot mount a tmpfs (root needed): {result.stderr.decode().strip()}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def fill_disk(directory: Path, leave: int = 0) -> Path:
    """Take the free space of ``directory``'s file system, all but ``leave`` bytes; returns the filler."""
    filler = directory / "filler"
    space = os.statvfs(directory)
    with filler.open("wb") as file:
        os.posix_fallocate(file.fileno(), 0, max(1, space.f_bavail * space.f_frsize - leave))
    return filler


class ServerProcess:
    """A kvserver (or redis-server) child process with its own data directory."""

    def __init__(self, argv: list[str], log_path: Path, port_pattern: str, cwd: Path | None = None) -> None:
        self.argv = argv
        self.cwd = cwd
        self.log_path = log_path
        self.port_pattern = port_pattern
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.preexec_fn: Callable[[], None] | None = None  # run in the child before exec (limits)

    def start(self, timeout: float = 20.0) -> ServerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            preexec_fn=self.preexec_fn,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()[offset:]
            if "Ready to accept connections" not in text:
                return False
            match = re.search(self.port_pattern, text)
            if match:
                self.port = int(match.group(1))
            return True

        wait_for(ready, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def process_gone(pid: int) -> bool:
    """No process has this pid any more (a daemon, or a process some tool started, has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def cluster_node_port() -> int:
    """A free port for a redis-server cluster node whose bus port (the port + 10000) is free as
    well; both below the kernel's ephemeral range where it leaves room, so no connection or
    ``--port 0`` server of a parallel test is given either while the node starts."""
    low = ephemeral_range_start() or 65536
    for attempt in range(2000):
        port = free_port()
        bus = port + 10000
        if bus > 65535 or (attempt < 1000 and bus >= low):  # then any free pair
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", bus))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def kvserver_process(data_dir: Path, *extra: str, config_file: Path | None = None) -> ServerProcess:
    """A kvserver on a port it picks itself (``--port 0``), logging to ``data_dir/server.log``.

    ``config_file`` comes first on the command line, as redis-server wants it; the options follow.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    first = [str(config_file)] if config_file is not None else []
    args = [sys.executable, "-m", "kvserver", *first, "--port", "0", "--dir", str(data_dir), *extra]
    if "--port" in extra:
        args = [sys.executable, "-m", "kvserver", *first, "--dir", str(data_dir), *extra]
    return ServerProcess(args, data_dir / "server.log", r"port=(\d+)\.")


def redis_server_process(data_dir: Path, *extra: str, port: int | None = None) -> ServerProcess:
    binary = require_tool("redis-server")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "no",
        *extra,
    ]
    server = ServerProcess(args, data_dir / "redis.log", r"(?!)")
    server.port = port
    return server


class RawClient:
    """A plain TCP socket for byte-exact protocol tests."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def recv_until_closed(self, limit: int = 1 << 20) -> bytes:
        """Everything until the server closes the connection."""
        data = b""
        while len(data) < limit:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        raise AssertionError("server did not close the connection")

    def request(self, payload: bytes, expected_len: int) -> bytes:
        self.send(payload)
        return self.recv_exactly(expected_len)

    def read_reply(self) -> object:

        parser = ReplyParser()
        while True:
            value = parser.next()
            if value is not NEED_DATA:
                return value
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            parser.feed(chunk)

    def close(self) -> None:
        self.sock.close()


def load_keys(port: int, count: int, deadline_ms: int, value: bytes = b"v", key_format: bytes = b"k:%d") -> None:
    """Pipeline ``count`` SET key value PXAT deadline commands over one raw socket (fast, no client)."""

    client = RawClient(port, timeout=300)
    batch = 10_000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        client.send(
            b"".join(
                encode_command(b"SET", key_format % i, value, b"PXAT", deadline_ms) for i in range(start, start + n)
            )
        )
        assert client.recv_exactly(5 * n) == b"+OK\r\n" * n
    client.close()


class Pinger:
    """PINGs from its own connection every few milliseconds in a thread; keeps the worst round trip."""

    def __init__(self, port: int, interval: float = 0.002) -> None:

        self.client = redis.Redis(port=port, socket_timeout=30)
        self.client.ping()
        self.interval = interval
        self.worst = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            self.client.ping()
            self.worst = max(self.worst, time.perf_counter() - start)
            self.stop.wait(self.interval)

    def finish(self) -> float:
        """Stop and return the worst round trip in seconds."""
        self.stop.set()
        self.thread.join(30)
        self.client.close()
        return self.worst


def call(function: Callable[..., Any], *args: object, **kwargs: object) -> Any:
    """Call a function its library left untyped (redis-py's ``execute_command``, ``watch``...)."""
    return function(*args, **kwargs)


def command(client: redis.Redis | redis.client.Pipeline, *args: object) -> Any:
    """``client.execute_command(*args)``: redis-py leaves it untyped; its reply is whatever the server sent."""
    return call(client.execute_command, *args)


def pexpiretime(client: redis.Redis, key: bytes | str) -> int:
    """PEXPIRETIME of a str or bytes key (redis-py's stub takes only str)."""
    return int(command(client, "PEXPIRETIME", key))


def array(reply: object) -> list[Any]:
    """A reply that must be an array (a list), as a list."""
    assert isinstance(reply, list), reply
    return reply


def token_of(session: Session) -> str:
    """A session's token: set by ``create`` and ``rotate``, the sessions a test holds."""
    assert session.token is not None
    return session.token


# --- differential scripts: the same commands against kvserver and redis-server, raw replies -----


def run_script(port: int, resp3: bool, script: list[tuple[str, ...]]) -> list[bytes]:
    client = RawClient(port)
    replies: list[bytes] = []
    if resp3:
        client.send(encode_command("HELLO", "3"))
        client.read_reply()
    for step in script:
        client.send(encode_command(*step))
        replies.append(read_raw_reply(client))
    client.close()
    return replies


def read_raw_reply(client: RawClient, chunk_size: int = 65536) -> bytes:
    """One reply's exact bytes (parsed to find its end, returned raw); ``chunk_size`` 1 leaves
    the replies that follow it in the socket."""
    data = b""
    while True:
        parser = ReplyParser()
        parser.feed(data)
        if parser.next() is not NEED_DATA:
            return data
        chunk = client.sock.recv(chunk_size)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk


def assert_same_replies(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool, script: list[tuple[str, ...]]
) -> None:
    ours = run_script(kv_server.port, resp3, script)
    theirs = run_script(real_redis.port, resp3, script)
    mismatches = [
        f"{' '.join(step)[:60]}\n    redis:    {want!r}\n    kvserver: {got!r}"
        for step, want, got in zip(script, theirs, ours, strict=True)
        if want != got
    ]
    assert not mismatches, "\n".join(mismatches)


def request(client: RawClient, *args: str | bytes) -> bytes:
    """Send one command, return its reply's exact bytes."""
    client.send(encode_command(*args))
    return read_raw_reply(client)


# --- in-process Database with an injected clock (unit tests) ------------------------------------

NOW = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


class RecordingLog(NoPersistence):
    """A LogWriter that keeps the units it is given."""

    def __init__(self) -> None:
        self.units: list[list[list[bytes]]] = []

    def write(self, records: list[list[bytes]]) -> None:
        self.units.append(records)


class Harness:
    """A Database with an injected clock and a recording log; ``h("SET", "k", "v")`` runs a command."""

    def __init__(self, config: Config | None = None) -> None:
        self.clock = Clock()
        self.log = RecordingLog()
        self.db = Database(config or Config(), self.log, self.clock)
        self.client = self.new_client()

    def new_client(self) -> ClientState:
        client = self.db.clients.new()
        client.authenticated = not self.db.config.requirepass
        self.db.clients.add(client)
        return client

    def __call__(self, *args: str | bytes, client: ClientState | None = None) -> object:
        argv = [a.encode() if isinstance(a, str) else a for a in args]
        return self.db.execute(client or self.client, argv)

    def records(self) -> list[list[bytes]]:
        return [record for unit in self.log.units for record in unit]


def err(text: str) -> ErrorReply:
    """The error reply a handler returns for ``text``."""
    return ErrorReply(text.encode())


# --- a Starlette app under the session middleware (session tests) -------------------------------


class Gates:
    """Lets a test hold a request inside its handler (after the middleware loaded its session)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


def session_of(request: Request) -> RequestSession:
    """``request.session`` as the middleware's type (Starlette types it as a plain dict)."""
    from kvsession.asgi import RequestSession

    session = request.scope["session"]
    assert isinstance(session, RequestSession)
    return session


def make_app(store: AsyncSessionStore, gates: Gates, **options: Any) -> Starlette:
    """A Starlette app under kvsession's middleware with the routes the session tests drive."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from kvsession.asgi import SessionMiddleware

    async def login(request: Request) -> JSONResponse:
        query = request.query_params
        if "cart" in query:  # set before logging in, in the same request
            session_of(request)["cart"] = query["cart"]
        remember = None if "remember" not in query else query["remember"] == "1"
        ttl = float(query["ttl"]) if "ttl" in query else None
        session_of(request).login(query["user"], remember=remember, ttl=ttl)
        return JSONResponse({"user": session_of(request).user_id})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": session_of(request).user_id, "data": dict(session_of(request))})

    async def write(request: Request) -> JSONResponse:
        session_of(request)[request.query_params["key"]] = request.query_params["value"]
        return JSONResponse({"ok": True})

    async def count(request: Request) -> JSONResponse:
        return JSONResponse({"visits": await session_of(request).increment("visits")})

    async def rotate(request: Request) -> JSONResponse:
        session_of(request).rotate()
        return JSONResponse({"ok": True})

    async def logout(request: Request) -> JSONResponse:
        session_of(request).logout()
        return JSONResponse({"user": session_of(request).user_id, "data": dict(session_of(request))})

    async def slow_write(request: Request) -> JSONResponse:
        gates.entered.set()
        await gates.release.wait()
        session_of(request)["late"] = "yes"
        return JSONResponse({"user": session_of(request).user_id})

    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/me", me),
        Route("/write", write, methods=["POST"]),
        Route("/count", count, methods=["POST"]),
        Route("/rotate", rotate, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/slow-write", slow_write, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app


def read_all(data: bytes) -> list[object]:
    """Every complete reply in ``data``, parsed."""
    parser = ReplyParser()
    parser.feed(data)
    values = []
    while (value := parser.next()) is not NEED_DATA:
        values.append(value)
    return values


# --- the asyncio glue in-process: a real Connection and Server, a fake transport ---------------


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        super().__init__()
        self.peer = peer
        self.written = bytearray()
        self.closed = False
        self.reading = True
        self.buffered = 0  # what get_write_buffer_size reports (the peer isn't reading)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 6379)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def take(self) -> bytes:
        data, self.written = bytes(self.written), bytearray()
        return data


class ConnectionHarness:
    """A real Connection and Server on a real loop, with a fake transport (tests/unit)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: Config) -> None:
        self.loop = loop
        self.db = Database(config)
        self.server = Server(config, self.db)

    def connect(self, peer: tuple[str, int] = ("127.0.0.1", 50000)) -> tuple[Connection, FakeTransport]:
        conn = Connection(self.server)
        transport = FakeTransport(peer)
        conn.connection_made(transport)
        return conn, transport

    def feed(self, conn: Connection, data: bytes) -> None:
        """Deliver a read inside the running loop, as asyncio does, then run what it scheduled."""

        async def deliver() -> None:
            conn.data_received(data)
            for _ in range(5):  # resumes and deferred closes are call_soon callbacks
                await asyncio.sleep(0)

        self.loop.run_until_complete(deliver())


def cmd(*args: str | bytes) -> bytes:
    return encode_command(*[a.encode() if isinstance(a, str) else a for a in args])


# --- a child process with few file descriptors ---------------------------------------------------

PR_CAPBSET_DROP = 24
CAP_SYS_RESOURCE = 24


def low_file_limit() -> None:
    """In the child: 256 descriptors, and (as root) no CAP_SYS_RESOURCE to raise the limit again."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def export_into_redis(data_dir: Path, port: int) -> redis.Redis:
    """``kvserver export`` of ``data_dir``, loaded with ``redis-cli --pipe`` into the (flushed)
    server on ``port``, which is returned; the load must report no error."""
    exported = subprocess.run(
        [sys.executable, "-m", "kvserver", "export", "--dir", str(data_dir)], capture_output=True, check=True
    ).stdout
    target = redis.Redis(port=port)
    target.flushall()
    loaded = subprocess.run(
        [require_tool("redis-cli"), "-p", str(port), "--pipe"], input=exported, capture_output=True, check=False
    )
    assert b"errors: 0" in loaded.stdout, loaded.stdout
    return target


# --- the Lua libraries of scripting, in a bare Lua runtime ---------------------------------------


def lua_with_libraries() -> Any:
    """A bare ``lupa.lua51.LuaRuntime`` (strings as bytes both ways) with kvserver's ``bit``,
    ``cjson``, ``cmsgpack`` and ``struct`` installed, and nothing of the scripting engine."""
    import importlib

    from kvserver.scripting.lualibs import install

    runtime = importlib.import_module("lupa.lua51").LuaRuntime(encoding=None)
    install(runtime)
    return runtime
