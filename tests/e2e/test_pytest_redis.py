"""pytest-redis's own fixtures (redis_proc, redisdb) run the installed kvserver as their redis-server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support import process_gone, wait_for

# a user's test module, run by pytest with `--redis-exec=kvserver`: start, use, stop
USER_TESTS = """
from pathlib import Path


def test_start_and_use(redis_proc, redisdb):
    Path("pid").write_text(str(redis_proc.process.pid))
    assert redis_proc.version >= redis_proc.MIN_SUPPORTED_VERSION
    assert redisdb.connection_pool.connection_kwargs["path"] == redis_proc.unixsocket  # over the socket
    redisdb.set("woof", "woof")
    assert redisdb.get("woof") == b"woof"
    parts = redis_proc.command_parts  # the redis-server command line pytest-redis built
    assert redisdb.config_get("timeout")["timeout"] == parts[parts.index("--timeout") + 1]
    assert Path(redis_proc.unixsocket).exists()
    databases = parts[parts.index("--databases") + 1]  # pytest-redis passes --databases 8
    assert redisdb.config_get("databases")["databases"] == databases
    redisdb.execute_command("SELECT", int(databases) - 1)  # the last one exists


def test_each_test_starts_empty(redisdb):
    assert redisdb.get("woof") is None
"""


@pytest.mark.slow
def test_pytest_redis_runs_kvserver(tmp_path: Path) -> None:
    kvserver = shutil.which("kvserver")
    assert kvserver is not None, "pip install -e '.[test]' installs the kvserver console script"
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # pytest-redis keeps its socket in the base temp dir: a short one (a socket path has 107 bytes)
    basetemp = tempfile.mkdtemp(prefix="kvpr", dir="/tmp")
    more = [f"--redis-exec={kvserver}", "test_user.py"]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}/t", *more],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed" in result.stdout
        pid = int((tmp_path / "pid").read_text())
        wait_for(lambda: process_gone(pid))  # stopped by the fixture at the end of the session
        log = next(Path(basetemp).rglob("redis-server.*.log")).read_text()
        assert "Ignoring 'rdbcompression no'" in log  # pytest-redis's default
        assert "ready to exit, bye bye" in log
        assert not list(Path(basetemp).rglob("*.sock"))  # the socket and the pidfile were removed
        assert not list(Path(basetemp).rglob("*.pid"))
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
