"""Run the operations of ``kvsession.logic`` on a connection: built-in or redis-py / valkey-py,
blocking or asyncio. Each operation gets one connection for its whole run, because WATCH
state lives on a connection.

Recovery, the same for every backend: a backend's failure becomes the library's own
``StoreUnavailable`` / ``StoreTimeout`` / ``ResponseError``; an operation whose connection broke
before it sent any write (its steps so far were reads, WATCH and UNWATCH, whose effect dies with
the connection, or idempotent writes: create's) is run again, once, from the start on another
connection. One that broke at or after any other MULTI/EXEC is not: the write may or may not
have been applied, and the caller gets ``StoreUnavailable``. A timeout is never retried (the
store is stalled; trying again would double the wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from kvsession.errors import ResponseError, SessionError, StoreTimeout, StoreUnavailable
from kvsession.logic import Atomic, Call, Operation, Pause, Step, Unwatch, Watch
from kvsession.resp import AsyncConnectionPool, ConnectionPool, ErrorReply, NullArray, error_text

T = TypeVar("T")
Start = Callable[[], Operation[T]]

# redis-py's option that returns raw bytes even from a client made with decode_responses=True
NEVER_DECODE = "NEVER_DECODE"


def _checked(reply: object) -> object:
    if isinstance(reply, ErrorReply):
        text = error_text(reply)
        if text.startswith(("MOVED", "ASK")):
            text += " (a Redis Cluster: the built-in client talks to one node; pass a redis.cluster.RedisCluster)"
        raise ResponseError(text)
    if isinstance(reply, Exception):  # an error reply inside EXEC's, as redis-py gives it
        raise ResponseError(str(reply))
    return reply


# --- the built-in client: a step is a batch of commands, its result is read from the replies ----


def step_commands(step: Step) -> list[tuple[bytes, ...]]:
    if isinstance(step, Pause):
        return []  # the runner waits; nothing is sent
    if isinstance(step, Call):
        return list(step.commands)
    if isinstance(step, Watch):
        return [(b"WATCH", *step.keys)]
    if isinstance(step, Unwatch):
        return [(b"UNWATCH",)]
    return [(b"MULTI",), *step.commands, (b"EXEC",)]


def step_result(step: Step, replies: list[object]) -> object:
    if isinstance(step, Call):
        return [_checked(reply) for reply in replies]
    if isinstance(step, Pause):
        return None
    if not isinstance(step, Atomic):
        _checked(replies[0])
        return None
    for reply in replies[:-1]:  # MULTI's OK and each QUEUED: an error here means EXECABORT
        _checked(reply)
    result = _checked(replies[-1])
    if result is None or result is NullArray:
        return None  # a WATCHed key changed
    assert isinstance(result, list)
    return [_checked(reply) for reply in result]


def advance(operation: Operation[T], reply: object) -> tuple[bool, Any]:
    """Send a reply into an operation: (False, its next step) or (True, its result)."""
    try:
        return False, operation.send(reply)
    except StopIteration as done:
        return True, done.value


class Attempt:
    """One run of an operation: remembers whether a write (MULTI/EXEC) was sent."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.wrote = False

    def step(self, step: Step) -> Step:
        if isinstance(step, Atomic) and not step.idempotent:
            self.wrote = True
        return step

    def may_retry(self, exc: StoreUnavailable) -> bool:
        return self.number == 0 and not self.wrote and not isinstance(exc, StoreTimeout)


def drive(operation: Operation[T], perform: Callable[[Step], object], attempt: Attempt | None = None) -> T:
    """Run an operation to its end, performing each step it yields."""
    attempt = attempt or Attempt(0)
    done, item = advance(operation, None)
    while not done:
        done, item = advance(operation, perform(attempt.step(item)))
    return item  # type: ignore[no-any-return]


async def drive_async(operation: Operation[T], perform: Callable[[Step], Awaitable[object]], attempt: Attempt) -> T:
    done, item = advance(operation, None)
    while not done:
        done, item = advance(operation, await perform(attempt.step(item)))
    return item  # type: ignore[no-any-return]


def with_retry(run_once: Callable[[Start[T], Attempt], T], start: Start[T]) -> T:
    for number in (0, 1):
        attempt = Attempt(number)
        try:
            return run_once(start, attempt)
        except StoreUnavailable as exc:
            if not attempt.may_retry(exc):
                raise
    raise AssertionError("unreachable")


async def with_retry_async(run_once: Callable[[Start[T], Attempt], Awaitable[T]], start: Start[T]) -> T:
    for number in (0, 1):
        attempt = Attempt(number)
        try:
            return await run_once(start, attempt)
        except StoreUnavailable as exc:
            if not attempt.may_retry(exc):
                raise
    raise AssertionError("unreachable")


class BuiltinRunner:
    """Steps on the built-in RESP client; the store owns (and closes) the pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def run(self, start: Start[T]) -> T:
        return with_retry(self._run_once, start)

    def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        with self.pool.connection() as conn:

            def perform(step: Step) -> object:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                return step_result(step, conn.request(step_commands(step)))

            return drive(start(), perform, attempt)

    def close(self) -> None:
        self.pool.close()


class AsyncBuiltinRunner:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def run(self, start: Start[T]) -> T:
        return await with_retry_async(self._run_once, start)

    async def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        async with self.pool.connection() as conn:

            async def perform(step: Step) -> object:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                return step_result(step, await conn.request(step_commands(step)))

            return await drive_async(start(), perform, attempt)

    async def close(self) -> None:
        await self.pool.close()


# --- redis-py and valkey-py clients -------------------------------------------------------------


def named(command: tuple[bytes, ...]) -> tuple[bytes | str, ...]:
    """The command with its name as str: redis-py's cluster client looks names up as str."""
    return (command[0].decode("ascii"), *command[1:])


def _names(exc: BaseException) -> set[str]:
    """redis-py and valkey-py each have their own exception classes, with the same names."""
    return {cls.__name__ for cls in type(exc).__mro__}


def _lost_while_watching(exc: BaseException) -> bool:
    """redis-py turns a connection error during a WATCH into a WatchError with this text."""
    return "occurred while watching" in str(exc)


def library_error(exc: BaseException) -> SessionError | None:
    """The library's exception for a redis-py / valkey-py one (None: not the client's error)."""
    if not type(exc).__module__.startswith(("redis", "valkey")):
        return None
    names = _names(exc)
    if "TimeoutError" in names:
        return StoreTimeout(str(exc))
    if "ResponseError" in names:
        return ResponseError(str(exc))
    if names & {"RedisError", "ValkeyError"}:  # connection, cluster and watch-lost errors
        return StoreUnavailable(str(exc))
    return None


def _exec_failed(exc: BaseException) -> bool:
    """EXEC found a WATCHed key changed (not: the connection broke, when the outcome is unknown)."""
    return "WatchError" in _names(exc) and not _lost_while_watching(exc)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except SessionError:
        raise
    except Exception as exc:
        error = library_error(exc)
        if error is None:
            raise
        raise error from exc


class RedisPyRunner:
    """Steps on a redis-py (or valkey-py) ``Redis`` client, through a transaction pipeline."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @contextlib.contextmanager
    def _pipeline(self) -> Iterator[Any]:
        pipe = self.client.pipeline(transaction=True)
        try:
            yield pipe
        finally:
            pipe.reset()  # UNWATCHes and returns the connection to the client's pool

    def run(self, start: Start[T]) -> T:
        return with_retry(self._run_once, start)

    def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        with translated(), self._pipeline() as pipe:
            return drive(start(), lambda step: self._perform(pipe, step), attempt)

    def _perform(self, pipe: Any, step: Step) -> object:
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Watch):
            return pipe.watch(*step.keys)
        if isinstance(step, Unwatch):
            return pipe.unwatch()
        if isinstance(step, Call):
            if pipe.watching:  # immediate mode: each command runs on the watching connection
                return [pipe.execute_command(*named(command), **{NEVER_DECODE: True}) for command in step.commands]
            batch = self.client.pipeline(transaction=False)
            for command in step.commands:
                batch.execute_command(*named(command), **{NEVER_DECODE: True})
            return batch.execute()
        pipe.multi()
        for command in step.commands:
            pipe.execute_command(*named(command))
        try:
            return pipe.execute()
        except Exception as exc:
            if _exec_failed(exc):
                return None
            raise

    def close(self) -> None:
        """The application owns its client: closing the store leaves it open."""


class AsyncRedisPyRunner:
    """Steps on a ``redis.asyncio.Redis`` (or valkey) client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @contextlib.asynccontextmanager
    async def _pipeline(self) -> AsyncIterator[Any]:
        pipe = self.client.pipeline(transaction=True)
        try:
            yield pipe
        finally:
            await pipe.reset()

    async def run(self, start: Start[T]) -> T:
        return await with_retry_async(self._run_once, start)

    async def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        with translated():
            async with self._pipeline() as pipe:
                return await drive_async(start(), lambda step: self._perform(pipe, step), attempt)

    async def _perform(self, pipe: Any, step: Step) -> object:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Watch):
            return await pipe.watch(*step.keys)
        if isinstance(step, Unwatch):
            return await pipe.unwatch()
        if isinstance(step, Call):
            if pipe.watching:
                commands = [named(command) for command in step.commands]
                return [await pipe.execute_command(*command, **{NEVER_DECODE: True}) for command in commands]
            batch = self.client.pipeline(transaction=False)
            for command in step.commands:
                batch.execute_command(*named(command), **{NEVER_DECODE: True})
            return await batch.execute()
        pipe.multi()
        for command in step.commands:
            pipe.execute_command(*named(command))
        try:
            return await pipe.execute()
        except Exception as exc:
            if _exec_failed(exc):
                return None
            raise

    async def close(self) -> None:
        """The application owns its client: closing the store leaves it open."""


# --- redis-py's RedisCluster (sync and asyncio) -------------------------------------------------


def routing_key(step: Step) -> bytes:
    """The key an operation's first step names. Every key of one operation carries the same
    {tag}, so it picks the one node (slot) that the whole operation runs on."""
    if isinstance(step, Watch):
        return step.keys[0]
    if isinstance(step, Call | Atomic):
        return step.commands[0][1]
    raise ValueError(f"an operation can't start with {step!r}")


def resumed(first: Step, operation: Operation[T]) -> Operation[T]:
    """An operation whose first step was already taken out (to route it), as a fresh one."""
    reply = yield first
    while True:
        try:
            step = operation.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        reply = yield step


def _moved(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN"))


class RedisClusterRunner:
    """A sync ``redis.cluster.RedisCluster``: each operation runs, WATCH and MULTI/EXEC included,
    on the node client (a plain ``Redis``) of its slot's primary, through ``RedisPyRunner``. A
    MOVED (a resharding) refreshes the slot map and counts as a broken connection: retried once
    if nothing was written yet."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def run(self, start: Start[T]) -> T:
        return with_retry(self._run_once, start)

    def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        operation = start()
        done, first = advance(operation, None)
        if done:
            return first  # type: ignore[no-any-return]
        with translated():
            node = self.cluster.get_node_from_key(routing_key(first))
            client = self.cluster.get_redis_connection(node)
        try:
            return RedisPyRunner(client)._run_once(lambda: resumed(first, operation), attempt)
        except ResponseError as exc:
            if not _moved(exc):
                raise
            with translated():
                self.cluster.nodes_manager.initialize()
            raise StoreUnavailable(f"the cluster moved a slot: {exc}") from exc

    def close(self) -> None:
        """The application owns its client."""


class AsyncRedisClusterRunner:
    """A ``redis.asyncio.cluster.RedisCluster``: each operation runs on one connection of its
    slot's primary, taken from the cluster client's own node pool, with the steps sent as raw
    commands. (Not through ``ClusterPipeline``: it has no ``watching`` and its transaction
    pipeline is where redis-py's async cluster defects are.)"""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    async def run(self, start: Start[T]) -> T:
        return await with_retry_async(self._run_once, start)

    async def _run_once(self, start: Start[T], attempt: Attempt) -> T:
        operation = start()
        done, first = advance(operation, None)
        if done:
            return first  # type: ignore[no-any-return]
        with translated():
            await self.cluster.initialize()
            node = self.cluster.get_node_from_key(routing_key(first))
        conn = node.acquire_connection()
        healthy = False
        try:
            with translated():
                if hasattr(conn, "is_connected") and not conn.is_connected:
                    await conn.connect()

                async def perform(step: Step) -> object:
                    if isinstance(step, Pause):
                        await asyncio.sleep(step.seconds)
                        return None
                    commands = step_commands(step)
                    await conn.send_packed_command(conn.pack_commands([named(c) for c in commands]))
                    replies: list[object] = []
                    for _ in commands:
                        try:
                            replies.append(await conn.read_response(disable_decoding=True))
                        except Exception as exc:
                            if "ResponseError" not in _names(exc):
                                raise
                            replies.append(ErrorReply(str(exc).encode()))
                    return step_result(step, replies)

                result = await drive_async(resumed(first, operation), perform, attempt)
                healthy = True
                return result
        except ResponseError as exc:
            if not _moved(exc):
                raise
            with translated():
                await self.cluster.nodes_manager.initialize()
            raise StoreUnavailable(f"the cluster moved a slot: {exc}") from exc
        finally:
            if not healthy:  # its state (a WATCH, a half-read reply) is unknown
                await conn.disconnect()
            node.release(conn)

    async def close(self) -> None:
        """The application owns its client."""
