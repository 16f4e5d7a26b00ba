"""Docs stay true: the command table in docs/ is the one the server has."""

from __future__ import annotations

from pathlib import Path

from kvserver.commands.doc import render_markdown
from kvserver.directives import render_markdown as render_configuration

ROOT = Path(__file__).resolve().parents[2]


def test_commands_md_matches_the_command_table() -> None:
    on_disk = (ROOT / "docs" / "commands.md").read_text()
    assert on_disk == render_markdown(), "regenerate: python -m kvserver.commands.doc > docs/commands.md"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```")
    assert "kvserver" in blocks[1]
    assert "pytest" in blocks[3]
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = [line for line in blocks[3].strip().splitlines() if line.strip()][-1]
    assert test_command in ci, "the CI must run the README's test command exactly"


def test_configuration_md_matches_the_directive_tables() -> None:
    on_disk = (ROOT / "docs" / "configuration.md").read_text()
    assert on_disk == render_configuration(), "regenerate: python -m kvserver.directives > docs/configuration.md"
