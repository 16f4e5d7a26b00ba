"""The session library's old import name, kept for one release: import ``kvsession`` instead.

``import client`` (and ``client.asgi``, ``client.django``, ...) still works and warns once with a
DeprecationWarning; every ``client.X`` is the very module ``kvsession.X``, so classes and
settings such as ``SESSION_ENGINE = "client.django"`` keep working unchanged.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

from kvsession import *  # noqa: F403 - the old name re-exports the new one
from kvsession import __all__ as __all__

warnings.warn(
    "the session library is now imported as 'kvsession'; 'client' will be removed in the next release",
    DeprecationWarning,
    stacklevel=2,
)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``client.X`` to the module ``kvsession.X`` itself (not a second copy of it)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("client."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module("kvsession." + spec.name.removeprefix("client."))

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed as kvsession.X


sys.meta_path.insert(0, _Alias())
