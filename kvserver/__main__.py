"""Command line: ``kvserver [options]`` serves; ``kvserver check-aof`` and ``kvserver export`` are tools."""

from __future__ import annotations

import sys

from kvserver.cli import main

if __name__ == "__main__":
    sys.exit(main())
