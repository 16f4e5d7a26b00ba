"""redis-server's command line and redis.conf: the file first, options after it, every directive known."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from kvserver.config import BY_NAME
from kvserver.directives import BY_REDIS_NAME, KVSERVER
from tests.support import ServerProcess, kvserver_process, require_tool


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvserver", *args], capture_output=True, text=True, timeout=30, cwd=cwd, check=False
    )


CONF = """\
# kvserver.conf: every kind of line redis.conf has

  # an indented comment, then blank lines

hz 20
requirepass "se cret\\x21"
MAXCLIENTS 77
appendfsync 'everysec'
rdbcompression yes
include {include}
include {glob}
timeout 5
"""


@pytest.fixture
def conf_server(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "extra.conf").write_text("maxmemory 10mb\ntimeout 9\n")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("loglevel verbose\n")
    (tmp_path / "conf.d" / "b.conf").write_text("maxmemory-policy allkeys-random\n")
    conf = tmp_path / "kvserver.conf"
    conf.write_text(CONF.format(include=tmp_path / "extra.conf", glob=tmp_path / "conf.d" / "*.conf"))
    # the command line overrides the file, the last occurrence winning
    server = kvserver_process(
        tmp_path / "data", "--appendonly", "no", "--hz", "30", "--hz", "40", config_file=conf
    ).start()
    yield server
    server.terminate()


def test_config_file_then_command_line(conf_server: ServerProcess, tmp_path: Path) -> None:
    r = redis.Redis(port=conf_server.port, password="se cret!")
    got = {name: r.config_get(name)[name] for name in ("hz", "maxclients", "appendfsync", "maxmemory", "timeout")}
    assert got == {"hz": "40", "maxclients": "77", "appendfsync": "everysec", "maxmemory": "10485760", "timeout": "5"}
    assert r.config_get("loglevel")["loglevel"] == "verbose"  # from the glob include
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-random"
    assert r.info("server")["config_file"] == str(tmp_path / "kvserver.conf")
    # an ignored directive: one line saying so and why, in the log (after logging is set up)
    log = conf_server.log()
    assert log.count("Ignoring 'rdbcompression yes': kvserver keeps no RDB snapshot") == 1
    assert log.index("kvserver is starting") < log.index("Ignoring 'rdbcompression yes'")
    r.close()


@pytest.mark.parametrize(
    "conf",
    [
        "port 7000\nno-such-directive 1\n",
        "port 7000\nhz\n",
        "hz 'unbalanced\n",
        "maxclients 10 20\n",
        "appendonly maybe\n",
        "rdbcompression perhaps\n",
    ],
)
def test_a_bad_config_file_is_refused_as_redis_refuses_it(conf: str, tmp_path: Path) -> None:
    redis_server = require_tool("redis-server")
    path = tmp_path / "bad.conf"
    path.write_text(conf)
    ours = run_cli(str(path), "--port", "0")
    theirs = subprocess.run(
        [redis_server, str(path), "--port", "0"], capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False
    )
    assert (ours.returncode, theirs.returncode) == (1, 1)
    assert ours.stderr == theirs.stderr


@pytest.mark.parametrize("included", [False, True])
def test_a_missing_config_file_is_named_as_redis_names_it(tmp_path: Path, included: bool) -> None:
    redis_server = require_tool("redis-server")
    path = tmp_path / "main.conf"
    if included:
        path.write_text(f"port 7000\ninclude {tmp_path / 'nope.conf'}\n")
    missing = tmp_path / "nope.conf" if included else path
    ours = run_cli(str(path))
    theirs = subprocess.run([redis_server, str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert (ours.returncode, theirs.returncode) == (1, 1)
    expected = f" # Fatal error, can't open config file '{missing}': No such file or directory\n"
    assert ours.stdout.endswith(expected)
    assert theirs.stdout.endswith(expected)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--cluster-enabled", "yes"], "'cluster-enabled yes' is not supported: kvserver has no cluster mode"),
        (["--tls-port", "6380"], "'tls-port 6380' is not supported: kvserver has no TLS"),
        (
            ["--replicaof", "10.0.0.1", "6379"],
            "'replicaof 10.0.0.1 6379' is not supported: kvserver has no replication",
        ),
        (["--slaveof", "10.0.0.1 6379"], "'slaveof 10.0.0.1 6379' is not supported"),
        (["--rename-command", "CONFIG", ""], "'rename-command' is not supported"),
    ],
)
def test_a_value_that_makes_no_sense_for_kvserver_is_refused(args: list[str], named: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1
    assert "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***" in result.stderr
    assert named in result.stderr


def test_the_flags_pytest_redis_passes_are_accepted(tmp_path: Path) -> None:
    server = kvserver_process(
        tmp_path,
        *("--daemonize", "no", "--rdbcompression", "yes", "--rdbchecksum", "no", "--appendonly", "no"),
        *("--databases", "8", "--timeout", "30", "--dbfilename", "dump.rdb", "--loglevel", "notice"),
        *("--syslog-enabled", "no", "--save", "900 1", "--cluster-enabled", "no", "--tls-port", "0"),
    ).start()
    try:
        log = server.log()
        for name in ("rdbcompression", "rdbchecksum", "dbfilename", "syslog-enabled"):
            assert log.count(f"Ignoring '{name} ") == 1, name
        assert "databases" not in log  # honoured now: nothing to say
        client = redis.Redis(port=server.port)
        assert client.config_get("databases") == {"databases": "8"}
        assert client.select(7)
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            client.select(8)
        client.close()
    finally:
        server.terminate()


def test_help_lists_every_directive_with_its_default() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name in (*BY_NAME, *BY_REDIS_NAME):
        assert any(line.startswith(f"  {name} ") for line in lines) or any(f"(alias {name})" in ln for ln in lines)
    assert "  appendfsync [always] CONFIG SET: yes." in result.stdout
    assert "  port [6379] CONFIG SET: no." in result.stdout


def test_every_redis_directive_is_known(real_redis: ServerProcess) -> None:
    """Every name (and alias) CONFIG GET * lists on a real redis-server is a parameter or in the catalogue."""
    r = redis.Redis(port=real_redis.port)
    names = set(r.config_get("*"))
    r.close()
    unknown = {n for n in names if n not in BY_NAME and n not in BY_REDIS_NAME}
    assert not unknown
    # and the catalogue marks as kvserver's exactly the directives kvserver's parameters implement
    for entry in BY_REDIS_NAME.values():
        assert (entry.reason == KVSERVER) == (entry.name in BY_NAME), entry.name


def test_the_config_can_come_from_standard_input(tmp_path: Path) -> None:
    """``kvserver -``: the file's text on stdin, then the options; a bad line as redis-server reports it."""
    redis_server = require_tool("redis-server")
    conf = "hz 20\nbogus-directive 1\n"
    ours = subprocess.run(
        [sys.executable, "-m", "kvserver", "-", "--port", "0"], input=conf, capture_output=True, text=True, timeout=30
    )
    theirs = subprocess.run(
        [redis_server, "-", "--port", "0"], input=conf, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert (ours.returncode, theirs.returncode) == (1, 1)
    assert ours.stderr == theirs.stderr
    assert ">>> 'bogus-directive 1'" in ours.stderr
