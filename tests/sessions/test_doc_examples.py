"""The session examples in README.md and docs/sessions.md run as written (against each server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def examples(path: Path) -> list[str]:
    """The python code blocks of a document that use the blocking session store."""
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
    return [block for block in blocks if block.startswith("from kvsession import SessionStore\n")]


@pytest.mark.parametrize("document", ["README.md", "docs/sessions.md"])
@pytest.mark.slow
def test_examples_run(document: str, server: ServerProcess) -> None:
    blocks = examples(ROOT / document)
    assert blocks, f"{document} has no session example"
    for code in blocks:
        code = code.replace("redis://127.0.0.1:6379/0", f"redis://127.0.0.1:{server.port}/0")
        namespace: dict[str, object] = {}
        exec(compile(code, document, "exec"), namespace)  # our own documentation
        store = namespace["store"]
        store.close()  # type: ignore[attr-defined]
