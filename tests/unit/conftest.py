"""Fixtures of the in-process tests: an event loop and a Connection harness on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kvserver.config import Config
from tests.support import ConnectionHarness


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def h(loop: asyncio.AbstractEventLoop) -> ConnectionHarness:
    return ConnectionHarness(loop, Config())
