from __future__ import annotations

from pathlib import Path

import pytest

from memfun_tools import Workspace

SECRET = "top secret outside the root\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


@pytest.fixture
def root(tmp_path: Path, outside: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "hello.py").write_text("def hello():\n    return 'hi'\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.md").write_text("# Notes\nline two\n")
    return folder


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)
