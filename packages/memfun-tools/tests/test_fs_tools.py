from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_tools import Limits, Workspace
from memfun_tools.fs import (
    Edit,
    edit_file,
    glob_files,
    list_dir,
    multi_edit,
    read_file,
    tree,
    write_file,
)


async def test_read_whole_file_and_ranges(ws: Workspace, root: Path) -> None:
    (root / "ten.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    whole = await read_file(ws, "ten.txt")
    assert whole.total_lines == 10
    assert whole.end_line == 10
    assert not whole.truncated
    part = await read_file(ws, "ten.txt", start_line=3, end_line=5)
    assert part.content == "line 3\nline 4\nline 5\n"
    assert (part.start_line, part.end_line) == (3, 5)
    past = await read_file(ws, "ten.txt", start_line=20)
    assert past.content == ""
    with pytest.raises(ValidationError, match="end_line"):
        await read_file(ws, "ten.txt", start_line=5, end_line=2)


async def test_read_truncates_with_a_notice(root: Path) -> None:
    (root / "big.txt").write_text("".join(f"{i:04d}\n" for i in range(1000)))
    ws = Workspace(root, limits=Limits(max_read_chars=50))
    result = await read_file(ws, "big.txt")
    assert result.truncated
    assert result.end_line == 10
    assert "start_line=11" in result.notice
    follow = await read_file(ws, "big.txt", start_line=11)
    assert follow.content.startswith("0010\n")


async def test_oversized_binary_and_missing_files_are_refused(root: Path) -> None:
    (root / "big.bin").write_bytes(b"x" * 2048)
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    ws = Workspace(root, limits=Limits(max_file_bytes=1024))
    with pytest.raises(ValidationError, match="2048 bytes"):
        await read_file(ws, "big.bin")
    with pytest.raises(ValidationError, match="binary"):
        await read_file(ws, "blob.bin")
    with pytest.raises(NotFoundError):
        await read_file(ws, "nope.txt")
    with pytest.raises(ValidationError, match="folder"):
        await read_file(ws, "sub")


async def test_write_creates_and_overwrites_with_diff(ws: Workspace, root: Path) -> None:
    created = await write_file(ws, "new/dir/file.txt", "one\n")
    assert created.created
    assert (root / "new/dir/file.txt").read_text() == "one\n"
    (root / "new/dir/file.txt").chmod(0o640)
    again = await write_file(ws, "new/dir/file.txt", "two\n")
    assert not again.created
    assert "-one" in again.diff
    assert "+two" in again.diff
    assert (root / "new/dir/file.txt").stat().st_mode & 0o777 == 0o640
    assert not list((root / "new/dir").glob("*.memfun-tmp"))
    with pytest.raises(NotFoundError):
        await write_file(ws, "missing/x.txt", "x", create_dirs=False)


def test_a_failed_write_keeps_the_old_content(root: Path) -> None:
    target = root / "keep.txt"
    target.write_text("precious\n")
    script = textwrap.dedent(
        f"""
        import asyncio, resource, signal
        from memfun_core.errors import BackendError
        from memfun_tools import Workspace
        from memfun_tools.fs import write_file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            asyncio.run(write_file(Workspace({str(root)!r}), "keep.txt", "x" * 100_000))
        except BackendError as exc:
            print("refused:", exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "refused:" in done.stdout
    assert target.read_text() == "precious\n"
    assert not list(root.glob("*.memfun-tmp"))


async def test_edit_exact_then_whitespace_tolerant(ws: Workspace, root: Path) -> None:
    (root / "m.py").write_text("def f():\n    x = 1\n    return  x\n")
    exact = await edit_file(ws, "m.py", "x = 1", "x = 2")
    assert exact.strategies == ("exact",)
    assert "+    x = 2" in exact.diff
    # The model's copy is indented differently and has single spaces: still unique.
    tolerant = await edit_file(
        ws, "m.py", "x = 2\nreturn x", "x = 3\nif x:\n    return x\nreturn 0"
    )
    assert tolerant.strategies == ("whitespace",)
    assert (root / "m.py").read_text() == (
        "def f():\n    x = 3\n    if x:\n        return x\n    return 0\n"
    )


async def test_ambiguous_edit_lists_candidates_and_changes_nothing(
    ws: Workspace, root: Path
) -> None:
    text = "a = 1\nb = 2\na = 1\n"
    (root / "dup.py").write_text(text)
    with pytest.raises(ConflictError, match=r"line 1: a = 1; line 3: a = 1"):
        await edit_file(ws, "dup.py", "a = 1", "a = 9")
    with pytest.raises(ConflictError, match="ignoring whitespace"):
        await edit_file(ws, "dup.py", "a  =  1", "a = 9")
    assert (root / "dup.py").read_text() == text
    every = await edit_file(ws, "dup.py", "a = 1", "a = 9", replace_all=True)
    assert every.replacements == 2
    with pytest.raises(NotFoundError, match="read the file again"):
        await edit_file(ws, "dup.py", "zzz", "y")
    with pytest.raises(ValidationError):
        await edit_file(ws, "dup.py", "b = 2", "b = 2")


async def test_multi_edit_is_all_or_nothing(ws: Workspace, root: Path) -> None:
    (root / "c.py").write_text("one\ntwo\nthree\n")
    with pytest.raises(NotFoundError, match="edit 2 of 2"):
        await multi_edit(ws, "c.py", [Edit("one", "1"), Edit("missing", "x")])
    assert (root / "c.py").read_text() == "one\ntwo\nthree\n"
    done = await multi_edit(ws, "c.py", [Edit("one", "1"), Edit("1\ntwo", "1\n2")])
    assert done.replacements == 2
    assert (root / "c.py").read_text() == "1\n2\nthree\n"


async def test_edit_refuses_non_utf8(ws: Workspace, root: Path) -> None:
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        await edit_file(ws, "latin.txt", "caf", "tea")
    assert (root / "latin.txt").read_bytes() == b"caf\xe9\n"


async def test_listing_honours_nested_gitignore(root: Path) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    (root / "a.log").write_text("x")
    (root / "keep.log").write_text("x")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("x")
    (root / "sub" / ".gitignore").write_text("secret_*.md\n")
    (root / "sub" / "secret_plan.md").write_text("x")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    ws = Workspace(root)
    names = {e.path for e in (await list_dir(ws)).entries}
    assert {"keep.log", "hello.py", "sub", ".gitignore"} <= names
    assert not names & {"a.log", "build", ".git"}
    found = await glob_files(ws, "**/*.md")
    assert found.paths == ("sub/notes.md",)
    unfiltered = Workspace(root, respect_gitignore=False)
    assert "a.log" in {e.path for e in (await list_dir(unfiltered)).entries}


async def test_glob_semantics(ws: Workspace, root: Path) -> None:
    (root / "sub" / "deep").mkdir()
    (root / "sub" / "deep" / "x.py").write_text("")
    assert (await glob_files(ws, "*.py")).paths == ("hello.py",)
    assert (await glob_files(ws, "**/*.py")).paths == ("hello.py", "sub/deep/x.py")
    assert (await glob_files(ws, "*.py", "sub/deep")).paths == ("sub/deep/x.py",)
    assert (await glob_files(ws, "sub/*/[xy].py")).paths == ("sub/deep/x.py",)
    capped = await glob_files(ws, "**/*", max_results=1)
    assert capped.truncated
    with pytest.raises(ValidationError):
        await glob_files(ws, "../*")


async def test_tree_renders_and_caps_depth(ws: Workspace, root: Path) -> None:
    (root / "sub" / "deep").mkdir()
    (root / "sub" / "deep" / "x.py").write_text("")
    shallow = await tree(ws, max_depth=1)
    assert "sub/ ..." in shallow.text
    assert shallow.truncated
    full = await tree(ws, max_depth=5)
    assert "      x.py" in full.text
    assert (full.files, full.dirs) == (3, 2)


async def test_whitespace_tolerant_edit_keeps_crlf_line_endings(ws: Workspace, root: Path) -> None:
    (root / "win.py").write_bytes(b"def f():\r\n    a = 1\r\n    b = 2\r\n")
    result = await edit_file(ws, "win.py", "a = 1\nb = 2", "a = 10\nb = 20")
    assert result.strategies == ("whitespace",)
    assert (root / "win.py").read_bytes() == b"def f():\r\n    a = 10\r\n    b = 20\r\n"
