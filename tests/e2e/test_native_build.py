"""The mypyc build (setup.py, kvserver/__init__.py): the pure-Python switch and the staleness rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import kvserver
from kvserver import STALE_AFTER_S, build_state, stale
from tests.support import ServerProcess

PACKAGE = Path(kvserver.__file__).parent
# what a process reports: the flag, and where its database module came from
PROBE = "import kvserver, kvserver.database as d; print(kvserver.COMPILED, d.__file__)"


def compiled_build() -> dict[str, str]:
    """The compiled modules beside the sources; a test that needs them fails in CI without them."""
    modules, _reason = build_state(str(PACKAGE))
    if not modules:
        if os.environ.get("CI") == "true":
            pytest.fail("no compiled build: CI installs one (pip install -e .)")
        pytest.skip("this tree has no compiled build (pip install -e . makes one)")
    return modules


def probe(pythonpath: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "KVSERVER_PURE_PYTHON"}
    environment.update(PYTHONPATH=str(pythonpath), **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=environment,
        cwd=pythonpath,  # -c puts the working directory first on the path
        check=True,
        timeout=60,
    )


def test_the_switch_runs_a_server_from_source(
    spawn: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_build()
    monkeypatch.setenv("KVSERVER_PURE_PYTHON", "1")
    server = spawn()
    assert "kvserver runs pure Python" in server.log()
    result = probe(PACKAGE.parent, KVSERVER_PURE_PYTHON="1")
    flag, database = result.stdout.split()
    assert (flag, Path(database)) == ("False", PACKAGE / "database.py")
    assert result.stderr == ""  # the switch is asked for: no warning


def test_without_the_switch_a_server_runs_the_build(
    spawn: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_build()
    monkeypatch.delenv("KVSERVER_PURE_PYTHON", raising=False)
    server = spawn()
    assert "kvserver runs compiled modules (mypyc)" in server.log()
    flag, database = probe(PACKAGE.parent).stdout.split()
    assert flag == "True"
    assert not database.endswith(".py")


def test_a_source_edited_after_the_build_runs_every_module_from_source(tmp_path: Path) -> None:
    modules = compiled_build()
    copy = tmp_path / "kvserver"
    shutil.copytree(PACKAGE, copy, copy_function=shutil.copy2, ignore=shutil.ignore_patterns("__pycache__"))
    assert probe(tmp_path).stdout.split()[0] == "True"  # the copy, as built

    edited = copy / Path(modules["kvserver.glob"]).relative_to(PACKAGE)
    later = max(file.stat().st_mtime for file in copy.rglob("*")) + STALE_AFTER_S + 60  # after the build
    os.utime(edited, (later, later))
    result = probe(tmp_path)
    flag, database = result.stdout.split()
    assert (flag, Path(database)) == ("False", copy / "database.py")  # all of them, not only glob
    assert f"{edited} changed after the compiled build; reinstall" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_staleness_rule(tmp_path: Path) -> None:
    source = tmp_path / "glob.py"
    source.write_text("")
    os.utime(source, (1000.0, 1000.0))
    modules = {"kvserver.glob": str(source)}
    assert stale(modules, {"kvserver.glob"}, 1000.0) is None
    # a wheel unpacks the library first: a source a little newer is of the same build
    assert stale(modules, {"kvserver.glob"}, 1000.0 - STALE_AFTER_S + 1) is None
    assert stale(modules, {"kvserver.glob"}, 1000.0 - STALE_AFTER_S - 1) == f"{source} changed after the compiled build"
    # an extension the library doesn't build (left from an earlier build), or the other way round
    assert stale(modules, {"kvserver.glob", "kvserver.zset"}, 1000.0) == (
        "the compiled build does not match its files (kvserver.zset)"
    )
    assert stale(modules, set(), 1000.0) == "the compiled build does not match its files (kvserver.glob)"
    source.unlink()
    assert stale(modules, {"kvserver.glob"}, 1000.0) == "kvserver.glob has no source file"
