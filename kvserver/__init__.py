"""kvserver: a persistent, RESP-compatible key-value server for server-side sessions.

``pip install`` compiles the hot modules with mypyc where it can (setup.py); their C extensions
sit beside the .py files. This file (never compiled) decides once, at the first import, whether
the process runs them or the .py files, all or nothing (the compiled modules call each other
natively, so a mix of compiled and source modules is never run):

- ``KVSERVER_PURE_PYTHON=1`` runs the .py files;
- so does a stale build: a compiled module's .py newer than the build (edited or checked out
  after ``pip install -e .``), a module of the build without its extension, an extension left
  over from an earlier build, or a build that does not load. One line on stderr names the fix.

``COMPILED`` says which it is; the server logs it at startup.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__version__ = "0.1.0"

NATIVE = "_native__mypyc"  # the build's one shared library (setup.py GROUP), inside the package
# A wheel unpacks the library before the .py files it was built from: a .py up to this much newer
# than the library is of the same build.
STALE_AFTER_S = 5.0


def _extensions(package_dir: str) -> dict[str, str]:
    """Each module of the package that has a C extension beside its .py: name -> .py path."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        relative = os.path.relpath(folder, package_dir)
        prefix = __name__ if relative == "." else f"{__name__}.{relative.replace(os.sep, '.')}"
        for file in files:
            # the first suffix that matches (the list has the tagged ".cpython-311-...so" and ".so")
            suffix = next((end for end in importlib.machinery.EXTENSION_SUFFIXES if file.endswith(end)), None)
            if suffix is not None and file != NATIVE + suffix:
                stem = file[: -len(suffix)]
                found[f"{prefix}.{stem}"] = os.path.join(folder, stem + ".py")
    return found


def build_state(package_dir: str) -> tuple[dict[str, str], str | None]:
    """The compiled modules (name -> .py path), and why the .py files must run instead (None:
    run the compiled ones). No build at all is ({}, None)."""
    extensions = _extensions(package_dir)
    library = next(
        (
            os.path.join(package_dir, NATIVE + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if os.path.exists(os.path.join(package_dir, NATIVE + suffix))
        ),
        None,
    )
    if not extensions and library is None:
        return {}, None
    if os.environ.get("KVSERVER_PURE_PYTHON") == "1":
        return extensions, "KVSERVER_PURE_PYTHON=1"
    if library is None:
        return extensions, "the compiled build is incomplete (no shared library)"
    try:
        native = importlib.import_module(f"{__name__}.{NATIVE}")
    except ImportError as exc:
        return extensions, f"the compiled build does not load ({exc})"
    built = {name[len("init_") :].replace("___", ".") for name in vars(native) if name.startswith("init_")}
    return extensions, stale(extensions, built, os.stat(library).st_mtime)


def stale(extensions: dict[str, str], built: set[str], built_at: float) -> str | None:
    """Why a build of the modules ``built`` at ``built_at`` (the shared library's mtime) can't
    run with the ``extensions`` found beside their sources; None if it can."""
    odd = sorted(built ^ set(extensions))
    if odd:
        return f"the compiled build does not match its files ({', '.join(odd)})"
    for name, source in sorted(extensions.items()):
        try:
            newer = os.stat(source).st_mtime > built_at + STALE_AFTER_S
        except OSError:
            return f"{name} has no source file"
        if newer:
            return f"{source} changed after the compiled build"
    return None


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' .py files, ahead of the extensions beside them."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def _choose() -> bool:
    compiled, reason = build_state(os.path.dirname(os.path.abspath(__file__)))
    if reason is not None:
        if reason != "KVSERVER_PURE_PYTHON=1":
            print(
                f"kvserver: running pure Python: {reason}; reinstall (pip install -e .) to recompile, "
                "or set KVSERVER_PURE_PYTHON=1 to silence this",
                file=sys.stderr,
            )
        sys.meta_path.insert(0, SourceFinder(compiled))
        return False
    return bool(compiled)


# True when the process runs the mypyc-compiled modules, False when it runs them from source
COMPILED: bool = _choose()
