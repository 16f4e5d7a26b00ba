"""Scripting end to end: without lupa, effects in the log across kill -9, runaway scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import redis

from kvserver.scripting import UNAVAILABLE
from tests.support import ServerProcess, command

# the server with lupa hidden: ``import lupa`` fails as if the extra were not installed
_WITHOUT_LUPA = (
    "import runpy, sys; sys.modules['lupa'] = None; sys.modules['lupa.lua51'] = None; "
    "sys.argv[0] = 'kvserver'; runpy.run_module('kvserver', run_name='__main__', alter_sys=True)"
)


def server_without_lupa(data_dir: Path, *extra: str) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", _WITHOUT_LUPA, "--port", "0", "--dir", str(data_dir), *extra]
    return ServerProcess(argv, data_dir / "server.log", r"port=(\d+)\.")


def test_without_lupa_scripting_names_the_extra_and_the_rest_works(tmp_path: Path) -> None:
    server = server_without_lupa(tmp_path / "nolupa", "--appendonly", "no").start()
    try:
        client = redis.Redis(port=server.port)
        for args in (
            ("EVAL", "return 1", "0"),
            ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"),
            ("SCRIPT", "LOAD", "return 1"),
            ("FUNCTION", "LIST"),
            ("FCALL", "f", "0"),
        ):
            with pytest.raises(redis.ResponseError) as raised:
                command(client, *args)
            assert str(raised.value) == UNAVAILABLE.removeprefix("ERR ")
        assert client.set("k", "v") is True
        assert client.get("k") == b"v"
        assert command(client, "SCRIPT", "HELP")[0].startswith(b"SCRIPT <subcommand>")
        client.close()
    finally:
        server.terminate()
