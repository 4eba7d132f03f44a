"""``--handler``: how a worker finds its function, and what it says when it cannot.

A handler's module is the operator's code: when it fails to import, the error says which
module, where and why, and the worker exits 2 as for any bad option, never "internal error".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime.worker._cli import load_handler


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "good.py").write_text("async def handle(task):\n    return task\nvalue = 3\n")
    (tmp_path / "syntax.py").write_text("def handle(:\n")
    (tmp_path / "raises.py").write_text("import os\nraise RuntimeError('set DB_URL first')\n")
    package = tmp_path / "handlers_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "boom.py").write_text("x = 1\ny = x / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_file_and_a_module_handler_load(folder: Path) -> None:
    assert load_handler(f"{folder / 'good.py'}:handle").__name__ == "handle"
    assert load_handler("good:handle").__name__ == "handle"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("good", "'good' is not 'module:function'"),
        ("{folder}/missing.py:handle", "cannot load {folder}/missing.py"),
        ("{folder}/good.py:nothing", "has no function 'nothing'"),
        ("{folder}/good.py:value", "has no function 'value'"),
        ("no_such_module_here:handle", "cannot import 'no_such_module_here'"),
        (
            "{folder}/syntax.py:handle",
            "importing {folder}/syntax.py failed at {folder}/syntax.py:1: SyntaxError",
        ),
        (
            "{folder}/raises.py:handle",
            "importing {folder}/raises.py failed at {folder}/raises.py:2: "
            "RuntimeError: set DB_URL first",
        ),
        (
            "handlers_pkg.boom:handle",
            "importing handlers_pkg.boom failed at {folder}/handlers_pkg/boom.py:2: "
            "ZeroDivisionError",
        ),
    ],
)
def test_a_handler_that_cannot_load_says_why(folder: Path, spec: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_handler(spec.format(folder=folder))
    assert says.format(folder=folder) in str(caught.value)
    assert caught.value.field == "handler"


def test_the_worker_exits_2_on_a_handler_that_does_not_import(folder: Path) -> None:
    command = [
        sys.executable, "-m", "memfun_runtime.worker", "--tier", "sqlite",
        "--sqlite-path", str(folder / "runtime.db"), "--capability", "x",
        "--handler", f"{folder / 'syntax.py'}:handle",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert f"failed at {folder / 'syntax.py'}:1: SyntaxError: invalid syntax" in done.stderr
    assert "internal error" not in done.stderr
