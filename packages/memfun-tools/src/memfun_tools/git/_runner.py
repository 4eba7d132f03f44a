"""Running git as a subprocess with a fixed, safe environment.

No pager, no prompts, no editor, no system config, no fsmonitor or external diff commands,
and repository discovery stops at the workspace root (``GIT_CEILING_DIRECTORIES``), so a
repository above the workspace is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from memfun_core.errors import (
    BackendError,
    NotFoundError,
    OperationTimeout,
    ValidationError,
)
from memfun_tools._workspace import Workspace

__all__ = ["GitOutput", "check_ref", "run_git"]

_SAFE_CONFIG = (
    "-c", "core.fsmonitor=false",
    "-c", "core.pager=cat",
    "-c", "color.ui=false",
    "-c", "diff.external=",
    "-c", "core.quotepath=false",
    "-c", "advice.detachedHead=false",
)  # fmt: skip
_MAX_REF = 256


@dataclass(frozen=True, slots=True)
class GitOutput:
    """What a git command printed."""

    code: int
    stdout: str
    stderr: str


def _git_path() -> str:
    found = shutil.which("git")
    if found is None:
        raise NotFoundError("program", "git", hint="install git (it is not bundled)")
    return found


def _env(ws: Workspace) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_EDITOR": "true",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_CEILING_DIRECTORIES": str(ws.root.parent),
    }
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def check_ref(ref: str, field: str = "ref") -> str:
    """Refuse a revision that could be read as an option or smuggle odd characters.

    Raises:
        ValidationError: When ``ref`` is empty, starts with ``-`` or has whitespace,
            control characters or is over-long.
    """
    if not ref or ref.startswith("-") or len(ref) > _MAX_REF:
        raise ValidationError(f"is {ref!r}", field=field, rule="a revision not starting with '-'")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in ref):  # noqa: PLR2004
        raise ValidationError(f"is {ref!r}", field=field, rule="no whitespace or control chars")
    return ref


async def run_git(
    ws: Workspace,
    args: Sequence[str],
    *,
    ok_codes: Sequence[int] = (0,),
    time_limit: float = 60.0,
) -> GitOutput:
    """Run ``git <args>`` in the workspace root.

    Raises:
        NotFoundError: When the workspace is not (the top of) a git repository.
        OperationTimeout: When git runs past ``time_limit``.
        BackendError: When git exits with a code outside ``ok_codes``.
    """
    proc = await asyncio.create_subprocess_exec(
        _git_path(),
        *_SAFE_CONFIG,
        *args,
        cwd=ws.root,
        env=_env(ws),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise OperationTimeout(f"git {args[0]}", time_limit, backend="git") from None
    result = GitOutput(
        proc.returncode or 0,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
    )
    if result.code in ok_codes:
        return result
    if "not a git repository" in result.stderr.lower():
        raise NotFoundError(
            "git repository at",
            str(ws.root),
            hint="run `git init` there, or start the tools at the repository's top folder",
        )
    detail = result.stderr.strip() or result.stdout.strip() or f"exit code {result.code}"
    raise BackendError(f"git {args[0]} failed: {detail}", backend="git")
