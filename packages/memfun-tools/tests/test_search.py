from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from memfun_core.errors import PermissionDeniedError, ValidationError
from memfun_tools import Workspace
from memfun_tools._binaries import find_binary
from memfun_tools.search import search_structural, search_text


@pytest.fixture
def code(root: Path) -> Path:
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text(
        "import os\n\n\ndef target(x):\n    return x + 1\n\n\nvalue = target(2)\n"
    )
    (root / "pkg" / "b.py").write_text("from a import target\n\nprint(target(3))\n")
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "c.py").write_text("target(4)\n")
    return root


def test_binaries_come_from_the_environment_not_path(monkeypatch: pytest.MonkeyPatch) -> None:
    find_binary.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    rg = find_binary("rg")
    sg = find_binary("ast-grep")
    assert rg.name == "rg"
    assert sg.name == "ast-grep"
    venv_bin = Path(os.path.realpath(os.sys.prefix)) / "bin"  # type: ignore[attr-defined]
    assert rg.parent == venv_bin.resolve()
    system_rg = shutil.which("rg", path="/usr/bin:/bin:/usr/local/bin")
    assert system_rg is None or Path(system_rg).resolve() != rg


async def test_text_search_reports_file_line_column_and_context(code: Path) -> None:
    ws = Workspace(code)
    result = await search_text(ws, r"target\(", context=1)
    where = [(m.path, m.line, m.column) for m in result.matches]
    assert where == [("pkg/a.py", 4, 5), ("pkg/a.py", 8, 9), ("pkg/b.py", 3, 7)]
    first = result.matches[0]
    assert first.text == "def target(x):"
    assert first.before == ("",)
    assert first.after == ("    return x + 1",)
    assert result.next_offset is None


async def test_text_search_pages_stably(code: Path) -> None:
    ws = Workspace(code)
    page1 = await search_text(ws, "target", limit=2)
    assert len(page1.matches) == 2
    assert page1.next_offset == 2
    page2 = await search_text(ws, "target", limit=2, offset=2)
    assert page2.next_offset is None
    seen = [(m.path, m.line) for m in page1.matches + page2.matches]
    assert len(set(seen)) == len(seen) == 4


async def test_text_search_options_and_errors(code: Path) -> None:
    ws = Workspace(code)
    fixed = await search_text(ws, "x + 1", fixed_strings=True)
    assert [m.line for m in fixed.matches] == [5]
    only_b = await search_text(ws, "target", globs=["b.py"])
    assert {m.path for m in only_b.matches} == {"pkg/b.py"}
    in_folder = await search_text(ws, "import", path="pkg/b.py")
    assert len(in_folder.matches) == 1
    assert (await search_text(ws, "TARGET", case="sensitive")).matches == ()
    assert len((await search_text(ws, "TARGET", case="insensitive")).matches) == 4
    with pytest.raises(ValidationError, match="regex"):
        await search_text(ws, "target(")
    with pytest.raises(PermissionDeniedError):
        await search_text(ws, "root", path="../outside")
    with pytest.raises(ValidationError):
        await search_text(ws, "x", limit=0)
    dash = await search_text(ws, "-x", fixed_strings=True)
    assert dash.matches == ()


async def test_text_search_honours_gitignore_switch(code: Path) -> None:
    assert "ignored/c.py" not in {
        m.path for m in (await search_text(Workspace(code), "target")).matches
    }
    raw = Workspace(code, respect_gitignore=False)
    assert "ignored/c.py" in {m.path for m in (await search_text(raw, "target")).matches}


async def test_structural_search(code: Path) -> None:
    ws = Workspace(code)
    result = await search_structural(ws, "target($A)", "python", context=1)
    where = [(m.path, m.line, m.column, m.text) for m in result.matches]
    assert where == [("pkg/a.py", 8, 9, "target(2)"), ("pkg/b.py", 3, 7, "target(3)")]
    assert result.matches[0].before == ("",)
    assert result.matches[1].before == ("",)
    defs = await search_structural(ws, "def $F($$$A): $$$B", "python")
    assert [(m.path, m.line) for m in defs.matches] == [("hello.py", 1), ("pkg/a.py", 4)]
    page = await search_structural(ws, "target($A)", "python", limit=1, offset=1)
    assert [m.path for m in page.matches] == ["pkg/b.py"]
    assert page.next_offset is None
    with pytest.raises(ValidationError):
        await search_structural(ws, "x", "python; rm -rf /")
    with pytest.raises(ValidationError, match="not a language"):
        await search_structural(ws, "foo($A)", "klingon")
    with pytest.raises(ValidationError, match="valid pattern"):
        await search_structural(ws, "$$$", "python")
