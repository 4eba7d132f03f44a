"""Running git as a subprocess with a fixed, safe environment.

git runs on ``<root>/.git`` and ``<root>`` only (no discovery), with no system or global
config, no prompts, no pager or editor, and every command-valued config key overridden
(see :mod:`memfun_tools.git._safety`): nothing the repository says makes the host run a program.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memfun_core.errors import (
    BackendError,
    NotFoundError,
    OperationTimeout,
    ValidationError,
)
from memfun_tools._workspace import Workspace
from memfun_tools.git._safety import STATIC_OVERRIDES, command_overrides, repository_dir

__all__ = ["GitOutput", "check_ref", "run_git"]

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


_IDENTITY = (
    ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
    ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
)


def _base_env() -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_EDITOR": "true",
        "GIT_SEQUENCE_EDITOR": "true",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_OPTIONAL_LOCKS": "0",
    }
    for _, names in _IDENTITY:
        for name in names:
            if name in os.environ:
                env[name] = os.environ[name]
    return env


async def _exec(
    argv: Sequence[str], env: dict[str, str], cwd: Path, time_limit: float
) -> GitOutput:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
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
        raise OperationTimeout(f"git {argv[3]}", time_limit, backend="git") from None
    return GitOutput(
        proc.returncode or 0,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
    )


async def _user_identity(git: str, repo_keys: set[str], env: dict[str, str]) -> dict[str, str]:
    """The user's own name and e-mail (global config) where the repository sets none.

    The global config is not read by the commands themselves (``GIT_CONFIG_GLOBAL`` is
    ``/dev/null``), so a commit would have no identity; reading two keys runs nothing.
    """
    found: dict[str, str] = {}
    for key, names in _IDENTITY:
        if key in repo_keys or all(name in env for name in names):
            continue
        proc = await asyncio.create_subprocess_exec(
            git,
            "config",
            "--global",
            "--no-includes",
            "--get",
            key,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={"PATH": env["PATH"], "HOME": env["HOME"], "GIT_CONFIG_NOSYSTEM": "1"},
        )
        value = (await proc.communicate())[0].decode("utf-8", errors="replace").strip()
        if proc.returncode == 0 and value:
            found.update(dict.fromkeys(names, value))
    return found


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
    git = _git_path()
    git_dir = repository_dir(ws)
    prefix = (git, f"--git-dir={git_dir}", f"--work-tree={ws.root}")
    env = _base_env()
    listing = await _exec(
        (*prefix, "config", "--list", "--no-includes", "-z"), env, ws.root, time_limit
    )
    if listing.code != 0:
        detail = listing.stderr.strip() or f"exit code {listing.code}"
        raise BackendError(f"git config could not be read: {detail}", backend="git")
    overrides = [*command_overrides(listing.stdout, ws), *STATIC_OVERRIDES]
    env["GIT_CONFIG_COUNT"] = str(len(overrides))
    for index, (key, value) in enumerate(overrides):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    if args and args[0] == "commit":
        repo_keys = {r.partition("\n")[0] for r in listing.stdout.split("\0")}
        env.update(await _user_identity(git, repo_keys, env))
    result = await _exec((*prefix, *args), env, ws.root, time_limit)
    if result.code in ok_codes:
        return result
    if "not a git repository" in result.stderr.lower():
        raise NotFoundError(
            "git repository at", str(ws.root), hint="run `git init` there (.git is not valid)"
        )
    detail = result.stderr.strip() or result.stdout.strip() or f"exit code {result.code}"
    raise BackendError(f"git {args[0]} failed: {detail}", backend="git")
