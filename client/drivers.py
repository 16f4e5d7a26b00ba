"""Run the operations of ``client.logic`` on a connection: built-in or redis-py / valkey-py,
blocking or asyncio. Each operation gets one connection for its whole run, because WATCH
state lives on a connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from client.logic import Atomic, Call, Operation, Pause, Step, Unwatch, Watch
from client.resp import AsyncConnectionPool, ConnectionPool, ResponseError
from kvserver.protocol import ErrorReply, NullArray

T = TypeVar("T")

# redis-py's option that returns raw bytes even from a client made with decode_responses=True
NEVER_DECODE = "NEVER_DECODE"


def _checked(reply: object) -> object:
    if isinstance(reply, ErrorReply):
        raise ResponseError(bytes(reply).decode("utf-8", "replace"))
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


def drive(operation: Operation[T], perform: Callable[[Step], object]) -> T:
    """Run an operation to its end, performing each step it yields."""
    done, item = advance(operation, None)
    while not done:
        done, item = advance(operation, perform(item))
    return item  # type: ignore[no-any-return]


async def drive_async(operation: Operation[T], perform: Callable[[Step], Awaitable[object]]) -> T:
    done, item = advance(operation, None)
    while not done:
        done, item = advance(operation, await perform(item))
    return item  # type: ignore[no-any-return]


class BuiltinRunner:
    """Steps on the built-in RESP client; the store owns (and closes) the pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def run(self, operation: Operation[T]) -> T:
        with self.pool.connection() as conn:

            def perform(step: Step) -> object:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                return step_result(step, conn.request(step_commands(step)))

            return drive(operation, perform)

    def close(self) -> None:
        self.pool.close()


class AsyncBuiltinRunner:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def run(self, operation: Operation[T]) -> T:
        async with self.pool.connection() as conn:

            async def perform(step: Step) -> object:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                return step_result(step, await conn.request(step_commands(step)))

            return await drive_async(operation, perform)

    async def close(self) -> None:
        await self.pool.close()


# --- redis-py and valkey-py clients -------------------------------------------------------------


def _is_watch_error(exc: BaseException) -> bool:
    """redis-py and valkey-py each have their own WatchError class."""
    return any(cls.__name__ == "WatchError" for cls in type(exc).__mro__)


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

    def run(self, operation: Operation[T]) -> T:
        with self._pipeline() as pipe:
            return drive(operation, lambda step: self._perform(pipe, step))

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
                return [pipe.execute_command(*command, **{NEVER_DECODE: True}) for command in step.commands]
            batch = self.client.pipeline(transaction=False)
            for command in step.commands:
                batch.execute_command(*command, **{NEVER_DECODE: True})
            return batch.execute()
        pipe.multi()
        for command in step.commands:
            pipe.execute_command(*command)
        try:
            return pipe.execute()
        except Exception as exc:
            if _is_watch_error(exc):
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

    async def run(self, operation: Operation[T]) -> T:
        async with self._pipeline() as pipe:
            return await drive_async(operation, lambda step: self._perform(pipe, step))

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
                return [await pipe.execute_command(*command, **{NEVER_DECODE: True}) for command in step.commands]
            batch = self.client.pipeline(transaction=False)
            for command in step.commands:
                batch.execute_command(*command, **{NEVER_DECODE: True})
            return await batch.execute()
        pipe.multi()
        for command in step.commands:
            pipe.execute_command(*command)
        try:
            return await pipe.execute()
        except Exception as exc:
            if _is_watch_error(exc):
                return None
            raise

    async def close(self) -> None:
        """The application owns its client: closing the store leaves it open."""
