"""Fixtures: one shared kvserver process for the end-to-end tests, and factories for more."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support import ServerProcess, kvserver_process, redis_server_process


@pytest.fixture(scope="session")
def kv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A kvserver shared by the tests that don't restart it (in-memory: --appendonly no)."""
    server = kvserver_process(tmp_path_factory.mktemp("kv"), "--appendonly", "no").start()
    yield server
    server.terminate()


@pytest.fixture
def kv(kv_server: ServerProcess) -> Iterator[redis.Redis]:
    """A redis-py client on the shared kvserver, on an empty keyspace."""
    client = redis.Redis(port=kv_server.port, protocol=2)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def real_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real redis-server, the reference for exact replies."""
    server = redis_server_process(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.terminate()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra kvserver processes (own data dirs); all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def start(*args: str, data_dir: Path | None = None) -> ServerProcess:
        server = kvserver_process(data_dir or tmp_path / f"kv{len(started)}", *args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.alive():
            server.kill9()


@pytest.fixture(autouse=True)
def _timing_sensitive_tests_run_alone(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under pytest-xdist, a test of the TIMING_SENSITIVE group (tests/support.py) runs while no
    other test of this run does: it holds a run-wide lock exclusively, every other test holds it
    shared. A gate lock gives the waiting exclusive test priority over tests not yet started."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp().parent  # shared by the run's workers
    exclusive = any(mark.args == ("timing-sensitive",) for mark in request.node.iter_markers("xdist_group"))
    with (root / "timing.gate").open("a") as gate, (root / "timing.lock").open("a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
