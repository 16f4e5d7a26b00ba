"""docs/commands.md, generated from the command table: ``python -m kvserver.commands.doc``."""

from __future__ import annotations

from kvserver.commands import TABLE
from kvserver.commands.registry import CommandSpec

_GROUP_TITLES = {
    "string": "Strings",
    "generic": "Keys and expiry",
    "connection": "Connection",
    "server": "Server",
    "transactions": "Transactions",
    "hash": "Hashes",
    "list": "Lists",
    "set": "Sets",
    "sorted-set": "Sorted sets",
    "bitmap": "Bitmaps",
    "hyperloglog": "HyperLogLog",
}


def _row(spec: CommandSpec) -> str:
    arity = f"{spec.arity}" if spec.arity > 0 else f"≥{-spec.arity}"
    flags = ", ".join(sorted(spec.flags))
    return f"| `{spec.name.upper().replace('|', ' ')}` | {arity} | {flags} | {spec.summary} |"


def render_markdown() -> str:
    lines = [
        "# Supported commands",
        "",
        "Generated from the command table (`python -m kvserver.commands.doc > docs/commands.md`);",
        "a test fails when this file and the table disagree. Arity counts the command name, as in",
        "`COMMAND INFO`: a fixed number, or ≥N for at least N. Replies and error texts follow",
        "Redis 7.0; deviations are listed in docs/architecture.md.",
        "",
    ]
    groups: dict[str, list[CommandSpec]] = {}
    for spec in TABLE.values():
        groups.setdefault(spec.group, []).append(spec)
    for group in sorted(groups, key=lambda g: list(_GROUP_TITLES).index(g) if g in _GROUP_TITLES else 99):
        lines += [
            f"## {_GROUP_TITLES.get(group, group)}",
            "",
            "| command | arity | flags | summary |",
            "|---|---|---|---|",
        ]
        for spec in sorted(groups[group], key=lambda s: s.name):
            if spec.subcommands:
                if spec.handler is not None:
                    lines.append(_row(spec))
                lines += [_row(sub) for sub in sorted(spec.subcommands.values(), key=lambda s: s.name)]
            else:
                lines.append(_row(spec))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
