"""Every `memfun ...` command the documentation names exists in the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer

from memfun_cli.app import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CLAUDE.md", *(ROOT / "docs").rglob("*.md")])
_CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
_COMMENT = re.compile(r"(?:^|(?<=\s))#.*$", re.MULTILINE)
_COMMAND = re.compile(r"(?<![\w./-])memfun((?:[ \t]+[a-z][a-z0-9-]*(?![\w:/.@]))+)")


def _mentions() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in _CODE.finditer(text):
            code = block.group(1) or block.group(2) or ""
            code = _COMMENT.sub("", code)  # shell comments are prose
            for match in _COMMAND.finditer(code):
                found.append((str(page.relative_to(ROOT)), "memfun" + match.group(1)))
    return sorted(set(found))


def _resolve(words: list[str]) -> str | None:
    """``None`` when the words name a command; else what is missing."""
    command = typer.main.get_command(app)
    path = ["memfun"]
    for word in words:
        if not hasattr(command, "list_commands"):  # a command, not a group (Typer's own classes)
            return None  # the rest are the command's arguments
        sub = command.get_command(click.Context(command), word)  # type: ignore[attr-defined]
        if sub is None:
            return f"{' '.join(path)} has no command {word!r}"
        command = sub
        path.append(word)
    return None


MENTIONS = _mentions()


def test_the_docs_name_commands() -> None:
    assert len(MENTIONS) > 20  # the scan finds the documentation's commands
    assert _resolve(["config", "show"]) is None
    assert _resolve(["config", "nonesuch"]) == "memfun config has no command 'nonesuch'"
    assert _resolve(["nonesuch"]) == "memfun has no command 'nonesuch'"


@pytest.mark.parametrize(("page", "mention"), MENTIONS)
def test_each_named_command_exists(page: str, mention: str) -> None:
    problem = _resolve(mention.split()[1:])
    assert problem is None, f"{page} names `{mention}`: {problem}"
