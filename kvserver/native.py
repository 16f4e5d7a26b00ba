"""mypyc's class decorator, importable without mypy_extensions (which is no runtime dependency).

setup.py compiles the hot modules with mypyc (docs/architecture.md). mypyc reads the decorator at
build time, where the build's mypy brings mypy_extensions, and leaves no call to it in the
compiled code; run from source without that package, the fallback leaves the class unchanged.
This module itself is never compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_C = TypeVar("_C", bound=type)

try:
    from mypy_extensions import mypyc_attr as mypyc_attr
except ImportError:  # pragma: no cover - only where mypy is not installed

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_C], _C]:  # type: ignore[misc]
        """Run from source: the class as written."""

        def keep(cls: _C) -> _C:
            return cls

        return keep
