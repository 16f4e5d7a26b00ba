"""Build kvserver, compiling its hot modules with mypyc when this machine can (docs/architecture.md).

The metadata is pyproject.toml's; this file only adds the C extensions. mypyc turns the strictly
typed modules of COMPILED into one C extension (every module of it calls the others natively),
placed beside the .py files (in the source tree itself for `pip install -e .`). The package stays
pure Python, said so in pip's output, when:

- KVSERVER_NO_COMPILE=1 is set at install time,
- there is no C compiler or no Python.h, or mypyc cannot be imported,
- mypyc or the C compiler fails.

At run time kvserver/__init__.py loads every module from its .py instead when
KVSERVER_PURE_PYTHON=1 is set or a compiled module is older than its source.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The per-request path (the connection layer, codec, keyspace, dispatch, the timing hook, the
# append-only log's write and flush), the string and key commands, and the ones the session
# library and the queues send (transactions, hashes, sorted sets, lists). Each of these is in the test suite's compiled run. Not sets.py:
# compiled, ``value.add(m)`` on a ``set[bytes]`` is a direct PySet_Add, which would skip
# IndexedSet's override (mypyc's dict operations check for an exact dict; its set ones don't).
COMPILED = [
    "kvserver/protocol.py",
    "kvserver/keyspace.py",
    "kvserver/database.py",
    "kvserver/state.py",
    "kvserver/glob.py",
    "kvserver/config.py",
    "kvserver/zset.py",
    "kvserver/commands/registry.py",
    "kvserver/commands/strings.py",
    "kvserver/commands/keys.py",
    "kvserver/commands/containers.py",
    "kvserver/server.py",
    "kvserver/aof.py",
    "kvserver/aof_format.py",
    "kvserver/monitoring.py",
    "kvserver/transactions.py",
    "kvserver/commands/transactions.py",
    "kvserver/commands/args.py",
    "kvserver/commands/hashes.py",
    "kvserver/commands/zsets.py",
    "kvserver/commands/lists.py",
]
# the shared library's module name: inside the package, not a top-level name in site-packages
GROUP = "kvserver._native"


# the commands that build the extensions (any other, such as egg_info, needs no mypyc run)
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def say(message: str) -> None:
    # pip shows a build backend's stderr with -v, and on failure; one line either way
    print(f"kvserver: {message}", file=sys.stderr, flush=True)


def why_not_compile() -> str | None:
    if os.environ.get("KVSERVER_NO_COMPILE") == "1":
        return "KVSERVER_NO_COMPILE=1"
    if sys.implementation.name != "cpython":
        return f"mypyc needs CPython, not {sys.implementation.name}"
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        return "no Python.h (install the python3-dev package)"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    try:
        import mypyc.build  # noqa: F401
    except ImportError as exc:
        return f"mypyc is not importable ({exc})"
    return None


class LenientBuildExt(build_ext):
    """A failed compile leaves the pure-Python package, installed all the same."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any compiler or linker error
            say(f"compiling with mypyc failed ({exc}); installing pure Python")
            self.extensions = []

    def build_extension(self, ext: Any) -> None:
        """Compile the extension's C files in parallel, one compiler process per core.

        mypyc writes one C file per module (``multi_file``); setuptools compiles an extension's
        sources one after another, and the C compile is most of the build's time."""
        compile_serially = self.compiler.compile

        def compile_in_parallel(sources: list[str], *args: Any, **kwargs: Any) -> list[str]:
            if len(sources) < 2:
                return compile_serially(sources, *args, **kwargs)  # type: ignore[no-any-return]
            # the object directories first: the threads would race to create them
            for obj in self.compiler.object_filenames(sources, output_dir=kwargs.get("output_dir", "")):
                os.makedirs(os.path.dirname(obj) or ".", exist_ok=True)
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                objects = pool.map(lambda source: compile_serially([source], *args, **kwargs), sources)
            return [obj for batch in objects for obj in batch]

        self.compiler.compile = compile_in_parallel
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_serially

    def get_outputs(self) -> list[str]:
        return super().get_outputs() if self.extensions else []


def remove_dropped_extensions() -> None:
    """An in-place build (``pip install -e .``) leaves each module's extension beside its .py: one
    of a module no longer in COMPILED would outlive it, and kvserver/__init__.py would then call
    the build stale."""
    here = os.path.dirname(os.path.abspath(__file__))
    compiled = {os.path.splitext(path)[0] for path in COMPILED}
    for folder, _, files in os.walk(os.path.join(here, "kvserver")):
        for name in files:
            module = os.path.relpath(os.path.join(folder, name.split(".")[0]), here)
            if name.endswith(".so") and not name.startswith("_native") and module not in compiled:
                os.remove(os.path.join(folder, name))


def extensions() -> list[Any]:
    commands = set(sys.argv[1:])
    if commands & {"egg_info", "dist_info", "sdist"} and not commands & BUILDS:
        return []  # pip asking for the metadata first: no C to generate yet (it takes seconds)
    reason = why_not_compile()
    if reason is not None:
        say(f"not compiled: {reason}; installing pure Python")
        return []
    from mypyc.build import mypycify

    remove_dropped_extensions()

    try:
        exts = mypycify(COMPILED, group_name=GROUP, opt_level="3", debug_level="0", multi_file=True)
    except BaseException as exc:  # mypyc reports type errors by SystemExit
        say(f"mypyc could not compile ({exc!r}); installing pure Python")
        return []
    for ext in exts:  # (mypyc writes the group's header under build/kvserver/, its C files in build/)
        ext.include_dirs.append(os.path.join("build", *GROUP.split(".")[:-1]))
    say(f"compiling {len(COMPILED)} modules with mypyc")
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": LenientBuildExt})
