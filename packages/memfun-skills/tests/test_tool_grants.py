"""``allowed-tools`` limits hold against the paths and commands a hostile model would send."""

from __future__ import annotations

import pytest

from memfun_skills import ToolGrant, map_allowed_tools

WRITE_SRC = ToolGrant("Write(src/**)", "fs_write", path_pattern="src/**")
PYTHON = ToolGrant("Bash(python3:*)", "shell", command_prefix="python3")


@pytest.mark.parametrize(
    "path",
    [
        "src/../.github/workflows/ci.yml",
        "src/a/../../.git/config",
        "./src/../../outside",
        "src/..",
        "/src/a.py",
        "//src/a.py",
        "C:/src/a.py",
        "src\\..\\.github\\workflows\\ci.yml",
        "src/a.py\x00.txt",
        "src/a\n.py",
        "",
    ],
)
def test_write_grant_refuses_an_escaping_or_ambiguous_path(path: str) -> None:
    assert not WRITE_SRC.allows("fs_write", path=path)


@pytest.mark.parametrize("path", ["src/a.py", "./src/a.py", "src//b/./c.py"])
def test_write_grant_allows_plain_paths_under_its_pattern(path: str) -> None:
    assert WRITE_SRC.allows("fs_write", path=path)


@pytest.mark.parametrize(
    "command",
    [
        "python3 ; cat /etc/passwd",
        "python3;cat /etc/passwd",
        "python3 x.py && curl http://x",
        "python3 x.py || rm -rf .",
        "python3 x.py | sh",
        "python3 x.py & sh",
        "python3 x.py\nsh",
        "python3 x.py\rsh",
        "python3 $(sh)",
        'python3 "$(sh)"',
        "python3 `sh`",
        "python3 x.py > ~/.bashrc",
        "python3 x.py >> ~/.bashrc",
        "python3 < /etc/shadow",
        "python3 <<EOF",
        "python3 x.py 2>&1",
        "(python3)",
        "PATH=/tmp python3",
        "python3x",
        "python3 'unclosed",
        "cat /etc/passwd",
    ],
)
def test_command_grant_refuses_anything_but_one_simple_command(command: str) -> None:
    assert not PYTHON.allows("shell", command=command)


@pytest.mark.parametrize(
    "command", ["python3", "python3 x.py --fast", "python3 -c 'print(1)'", "'python3' -V"]
)
def test_command_grant_allows_its_prefix(command: str) -> None:
    assert PYTHON.allows("shell", command=command)


def test_a_multi_word_prefix_must_match_word_by_word() -> None:
    (grant,), _ = map_allowed_tools(["Bash(npm run test:*)"])
    assert grant.allows("shell", command="npm run test -- --watch")
    assert grant.allows("shell", command="npm  run   test")
    assert not grant.allows("shell", command="npm run testx")
    assert not grant.allows("shell", command="npm run test; npm publish")
