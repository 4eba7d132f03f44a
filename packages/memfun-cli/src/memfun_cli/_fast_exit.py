"""End the ``memfun`` process without tearing the interpreter down.

Once a command has finished, written its output and closed what it opened, Python still
tears down every module (DSPy, LiteLLM, pydantic: tens of thousands of objects), which took
0.1-0.25 s of every ``memfun ask`` here. :func:`exit_now` does what a normal exit does that
matters — wait for the threads that keep a process alive, run the exit handlers (logging
flushes, temporary folders are removed), flush stdout and stderr — and then ends the process
with ``os._exit``, skipping the teardown. Only the console script uses it; :func:`main`
itself still raises ``SystemExit``, so callers in Python see a normal exit.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

__all__ = ["exit_code", "exit_now"]


def exit_code(code: object) -> int:
    """The process exit status ``SystemExit(code)`` gives (a text code is printed: status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def exit_now(status: int) -> None:
    """Wait for non-daemon threads, run the exit handlers, flush, and end with ``status``."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # pyright: ignore[reportPrivateUsage] - what Py_Finalize runs
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to write
            status = status or 1
    os._exit(status)
