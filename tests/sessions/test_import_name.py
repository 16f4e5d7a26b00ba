"""The session library is ``kvsession``; the old name ``client`` works for one release, with a warning."""

from __future__ import annotations

import subprocess
import sys

OLD_NAME = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import client
    from client.asgi import SessionMiddleware
    from client import SessionStore
import kvsession, kvsession.asgi
assert SessionMiddleware is kvsession.asgi.SessionMiddleware   # the same module, not a copy
assert SessionStore is kvsession.SessionStore
assert client.__all__ == kvsession.__all__
assert [w.category.__name__ for w in caught] == ["DeprecationWarning"], caught
print(caught[0].message)
"""


def run(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_the_old_name_is_the_new_modules_and_warns_once() -> None:
    result = run(OLD_NAME)
    assert result.returncode == 0, result.stderr
    assert "now imported as 'kvsession'" in result.stdout


def test_the_new_name_imports_without_the_server_or_a_warning() -> None:
    code = "import sys, kvsession, kvsession.asgi; assert 'kvserver.server' not in sys.modules"
    result = run(code, "-W", "error")
    assert result.returncode == 0, result.stderr
