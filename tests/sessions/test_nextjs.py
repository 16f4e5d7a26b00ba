"""docs/nextjs.md's session module, as written there, run by node with ioredis against a real
kvserver: login, lookup, a tampered token, logout, and one ioredis client kept across a kill -9
and restart of kvserver (the session survives, the client reconnects).

Needs node and an ioredis install: ``npm install --prefix <dir> ioredis@5.11.1`` and
``IOREDIS_PREFIX=<dir>`` (missing: a skip locally, a failure in CI)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from kvsession.testing import KvServer, kvserver
from tests.support import link_ioredis, require_tool

__all__ = ["kvserver"]

pytestmark = [pytest.mark.slow, pytest.mark.external]

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import Redis from "ioredis";
import readline from "node:readline";
import { createSession, deleteSession, getSession } from "./session.mjs";

const redis = new Redis(process.env.KVSERVER_URL);
const lines = readline.createInterface({ input: process.stdin });
const say = (value) => console.log(JSON.stringify(value));
const token = await createSession(redis, 42);
say({ token, session: await getSession(redis, token), tampered: await getSession(redis, token + "x") });
for await (const line of lines) {
  if (line === "after-restart") {
    say({ session: await getSession(redis, token) });
    await deleteSession(redis, token);
    say({ session: await getSession(redis, token) });
    break;
  }
}
lines.close();
redis.disconnect();
"""


def session_module() -> str:
    text = (ROOT / "docs" / "nextjs.md").read_text()
    match = re.search(r"```js\n(// lib/session\.mjs\n.*?)```", text, re.S)
    assert match is not None, "docs/nextjs.md has no lib/session.mjs block"
    return match.group(1)


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    link_ioredis(tmp_path)
    (tmp_path / "session.mjs").write_text(session_module())
    (tmp_path / "driver.mjs").write_text(DRIVER)
    return tmp_path


def test_the_nextjs_flow_with_ioredis_across_a_kill_9(node_dir: Path, kvserver: KvServer) -> None:
    with subprocess.Popen(
        [require_tool("node"), "driver.mjs"],
        cwd=node_dir,
        env={**os.environ, "KVSERVER_URL": kvserver.url},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        talk(process, kvserver)


def talk(process: subprocess.Popen[str], kvserver: KvServer) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        first = json.loads(process.stdout.readline())
        assert first["session"]["userId"] == "42"
        assert first["tampered"] is None
        kvserver.restart()  # kill -9, then the same port and data
        process.stdin.write("after-restart\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["session"]["userId"] == "42"  # survived, reconnected
        assert json.loads(process.stdout.readline()) == {"session": None}  # logged out
        process.stdin.close()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
