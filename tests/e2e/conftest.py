"""Fixtures for the end-to-end tests that need a real fault: a small, fillable tmpfs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import IN_CI


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount tmpfs file systems of a given size (root needed); all are unmounted at the end."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        mount_point = tmp_path / f"tmpfs{len(mounted)}"
        mount_point.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True, check=False
        )
        if result.returncode != 0:
            message = f"cannot mount a tmpfs (root needed): {result.stderr.decode().strip()}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        mounted.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("256k")


def fill_disk(directory: Path, leave: int = 0) -> Path:
    """Take the free space of ``directory``'s file system, all but ``leave`` bytes; returns the filler."""
    filler = directory / "filler"
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize - leave
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        chunk = b"\0" * 4096
        while free > 0:
            try:
                free -= os.write(fd, chunk[: min(len(chunk), free)])
            except OSError:
                break
    finally:
        os.close(fd)
    return filler
