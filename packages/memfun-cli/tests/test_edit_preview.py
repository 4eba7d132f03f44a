"""The diff ``memfun chat`` shows before an edit: the real memfun-tools edit on a scratch copy,
with the workspace untouched until the call itself runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_cli._edit_preview import preview_edit

_CALC = "def add(a, b):\n    return a - b\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text(_CALC, encoding="utf-8")
    return tmp_path


async def test_an_edit_is_previewed_as_a_diff_without_touching_the_file(root: Path) -> None:
    preview = await preview_edit(
        root, "fs_edit", {"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}
    )
    assert preview is not None
    assert preview.error is None
    assert preview.path == "calc.py"
    assert "-    return a - b\n+    return a + b\n" in preview.diff
    assert preview.diff.startswith("--- a/calc.py\n+++ b/calc.py\n")
    assert (root / "calc.py").read_text(encoding="utf-8") == _CALC


async def test_the_tools_matching_rules_apply_whitespace_included(root: Path) -> None:
    # fs_edit's whitespace-tolerant match re-indents; the preview runs that same code.
    preview = await preview_edit(
        root,
        "fs_multi_edit",
        {
            "path": "calc.py",
            "edits": [
                {"old_text": "return   a - b", "new_text": "return a + b"},
                {"old_text": "def add", "new_text": "def plus"},
            ],
        },
    )
    assert preview is not None
    assert preview.error is None
    assert "+def plus(a, b):\n+    return a + b\n" in preview.diff
    assert (root / "calc.py").read_text(encoding="utf-8") == _CALC


async def test_a_new_file_and_a_failing_edit(root: Path) -> None:
    created = await preview_edit(root, "fs_write", {"path": "pkg/new.py", "content": "x = 1\n"})
    assert created is not None
    assert created.diff == "--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1 @@\n+x = 1\n"
    assert not (root / "pkg").exists()

    missing = await preview_edit(
        root, "fs_edit", {"path": "calc.py", "old_text": "return a * b", "new_text": "x"}
    )
    assert missing is not None
    assert missing.diff == ""
    assert missing.error  # the same error the real call would raise

    outside = await preview_edit(root, "fs_write", {"path": "../escape.py", "content": "x"})
    assert outside is not None
    assert outside.error
    assert "leaves the workspace" in outside.error


async def test_tools_that_are_not_file_edits_have_no_preview(root: Path) -> None:
    assert await preview_edit(root, "git_commit", {"message": "fix"}) is None
