"""The console script's exit without the interpreter's teardown: nothing written is lost.

``memfun`` ends with ``os._exit`` once a command is done (see ``memfun_cli._fast_exit``); what
a normal exit guarantees must still happen first: threads that keep a process alive finish,
exit handlers run, buffered output reaches the pipe, and the status is SystemExit's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_PROGRAM = """
import atexit, sys, threading, time
from memfun_cli._fast_exit import exit_code, exit_now
atexit.register(lambda: print("atexit ran"))
def late():
    time.sleep(0.3)
    print("thread done")
threading.Thread(target=late).start()
sys.stdout.write("x" * 200_000)  # still in the buffer: must be flushed
sys.stdout.write("\\n")
exit_now(exit_code({code!r}))
"""


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (256 + 2, 2), ("boom", 1)])
def test_exit_now_waits_runs_the_handlers_and_flushes(
    tmp_path: Path, code: object, status: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(code=code)],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "x" * 200_000
    assert lines[1:] == ["thread done", "atexit ran"]  # the thread first, as Python does
    assert ("boom" in done.stderr) == (code == "boom")


def test_the_console_script_is_the_fast_exit_and_keeps_the_status(tmp_path: Path) -> None:
    memfun = Path(sys.executable).parent / "memfun"
    script = memfun.read_text(encoding="utf-8")
    assert "from memfun_cli.app import console" in script
    ok = subprocess.run([str(memfun), "--version"], cwd=tmp_path, capture_output=True,
                        text=True, check=False, timeout=60)  # fmt: skip
    assert ok.returncode == 0
    assert "memfun-cli" in ok.stdout
    bad = subprocess.run([str(memfun), "no-such-command"], cwd=tmp_path, capture_output=True,
                         text=True, check=False, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "No such command" in bad.stderr
