"""Running a search binary and reading its JSON lines until enough were seen."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memfun_core.errors import OperationTimeout

__all__ = ["SAFE_ENV", "stream_json"]

# A fixed environment: no user config files (RIPGREP_CONFIG_PATH), no colour, no pager.
SAFE_ENV = {"LC_ALL": "C.UTF-8", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}


async def stream_json(
    argv: Sequence[str],
    cwd: Path,
    on_record: Callable[[dict[str, Any]], bool],
    *,
    skip_prefixes: tuple[bytes, ...] = (),
    on_skipped: Callable[[], None] | None = None,
    time_limit: float,
) -> tuple[int | None, str]:
    """Run ``argv`` and feed each JSON line of its output to ``on_record``.

    ``on_record`` returns ``False`` to stop early; the process is then killed. Lines that
    start with one of ``skip_prefixes`` are not parsed; ``on_skipped`` is called instead.

    Returns:
        The exit code (``None`` when stopped early) and the captured standard error.

    Raises:
        OperationTimeout: When the process runs longer than ``time_limit`` seconds.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=SAFE_ENV,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    stopped = False

    async def pump() -> None:
        nonlocal stopped
        assert proc.stdout is not None
        async for raw in proc.stdout:
            if raw.startswith(skip_prefixes):
                if on_skipped is not None:
                    on_skipped()
                continue
            if raw.strip() and not on_record(json.loads(raw)):
                stopped = True
                return

    stderr_task = asyncio.ensure_future(proc.stderr.read())
    try:
        await asyncio.wait_for(pump(), time_limit)
    except BaseException as exc:
        _kill(proc)
        await proc.wait()
        stderr_task.cancel()
        if isinstance(exc, TimeoutError):
            raise OperationTimeout(argv[0], time_limit, backend=Path(argv[0]).name) from None
        raise
    if stopped:
        _kill(proc)
    code = await proc.wait()
    stderr = (await stderr_task).decode("utf-8", errors="replace")
    return (None if stopped else code), stderr


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
