"""Attacks on pattern matching: globs and ``.gitignore`` patterns that backtrack for hours.

``*a*a*a*a*a*a*ab`` against a name of many ``a`` makes a backtracking regex engine try every
way to split the name (hours for a 200-character name); repeated calls exhaust the server's
threads. The attack runs in a subprocess with a wall limit far beyond what linear matching
needs: being killed at the limit is how a regression shows, not a timing assertion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_core.errors import ValidationError
from memfun_tools import Workspace
from memfun_tools.fs import glob_files

EVIL = "*a*a*a*a*a*a*ab"
LONG_NAME = "a" * 200 + ".txt"
WALL_LIMIT = 300.0  # linear matching needs well under a second

_ATTACK = """
import asyncio, json, sys
from memfun_tools import Workspace
from memfun_tools.fs import glob_files, list_dir, tree, write_file

async def main(root: str, evil: str, name: str) -> None:
    ws = Workspace(root)
    await write_file(ws, ".gitignore", evil + "\\n")  # the hostile repository's ignore file
    await write_file(ws, name, "x\\n")
    await write_file(ws, "sub/" + "a" * 200 + "b", "ignored\\n")
    glob = await glob_files(ws, evil)
    deep = await glob_files(ws, "**/" + evil)
    listed = await list_dir(ws, ".")
    shown = await tree(ws, ".")
    print(json.dumps({
        "glob": list(glob.paths),
        "deep": list(deep.paths),
        "listed": sorted(e.path for e in listed.entries),
        "tree_files": shown.files,
    }))

asyncio.run(main(*sys.argv[1:]))
"""


def test_backtracking_patterns_finish(root: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ATTACK, str(root), EVIL, LONG_NAME],
            capture_output=True,
            text=True,
            timeout=WALL_LIMIT,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"pattern matching was still running after {WALL_LIMIT} s (backtracking)")
    result = json.loads(done.stdout)
    assert result["glob"] == []  # the long name ends in .txt, not "ab"
    assert result["deep"] == []
    assert LONG_NAME in result["listed"]
    # The hostile .gitignore still works as an ignore file: sub/aaa...ab is hidden.
    assert result["tree_files"] == 4  # .gitignore, hello.py, the long name, sub/notes.md


async def test_a_matching_name_is_still_found(root: Path) -> None:
    (root / ("ab" * 20)).write_text("x\n")
    (root / "sub" / "a-a-a-a-a-a-ab").write_text("x\n")
    found = await glob_files(Workspace(root), EVIL)
    assert found.paths == ("abababababababababababababababababababab",)
    deep = await glob_files(Workspace(root), "**/" + EVIL)
    assert deep.paths == ("abababababababababababababababababababab", "sub/a-a-a-a-a-a-ab")
    assert (await glob_files(Workspace(root), "s?b/[!x]-*")).paths == ("sub/a-a-a-a-a-a-ab",)


async def test_oversized_or_malformed_patterns_are_refused(root: Path) -> None:
    ws = Workspace(root)
    with pytest.raises(ValidationError, match="limit of 1000"):
        await glob_files(ws, "*a" * 600)
    with pytest.raises(ValidationError, match="malformed"):
        await glob_files(ws, "[z-a]x")
