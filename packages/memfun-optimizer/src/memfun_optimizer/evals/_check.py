"""Judging one run of an eval task: answer checks, a command in the sandbox, a Python checker."""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from memfun_agent import Check, Verifier
from memfun_optimizer._taxonomy import FailureKind
from memfun_optimizer.evals._suite import Checker, EvalTask
from memfun_runtime.protocols import SandboxAdapter

__all__ = ["CheckContext", "Verdict", "judge"]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a Python checker (``module:function``) receives.

    Attributes:
        task: The task.
        workspace: The scratch copy the agent worked in, after the run.
        answer: The agent's answer.
        diff: The unified diff of the files it changed.
        changed_files: Those files.
    """

    task: EvalTask
    workspace: Path
    answer: str
    diff: str
    changed_files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a completed run solved its task, and why not."""

    solved: bool
    failure: FailureKind | None = None
    detail: str = ""


def _environment() -> tuple[Path, tuple[str, ...]]:
    """Memfun's own interpreter and the host folders it needs inside the sandbox."""
    python = Path(sys.executable)
    real = Path(os.path.realpath(python))
    mounts = [sys.prefix]
    if not str(real).startswith("/usr"):
        mounts.append(str(real.parents[1]))
    return python, tuple(dict.fromkeys(mounts))


def _answer_failure(check: Checker, answer: str) -> str | None:
    lowered = answer.lower()
    missing = [text for text in check.contains if text.lower() not in lowered]
    if missing:
        return f"the answer lacks {missing!r}"
    if check.regex is not None and re.search(check.regex, answer, re.MULTILINE) is None:
        return f"the answer does not match /{check.regex}/"
    return None


async def _command_failure(check: Checker, workspace: Path, sandbox: SandboxAdapter) -> str | None:
    python, mounts = _environment()
    argv = list(check.command)
    if argv[0] == "python":
        argv[0] = str(python)
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": f"{python.parent}:/usr/bin:/bin"}
    verifier = Verifier(
        sandbox,
        workspace,
        checks=[Check("eval", tuple(argv), mounts, env)],
        timeout=check.timeout,
    )
    verification = await verifier.run()
    if verification.passed:
        return None
    return verification.feedback()[-2_000:]


def _python_checker(spec: str, suite_dir: Path) -> Callable[[CheckContext], object]:
    module_name, _, function = spec.partition(":")
    added = str(suite_dir) not in sys.path
    if added:
        sys.path.insert(0, str(suite_dir))
    try:
        module = importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(str(suite_dir))
    found = getattr(module, function, None)
    if not callable(found):
        raise TypeError(f"{spec} is not a function")
    return cast("Callable[[CheckContext], object]", found)


async def judge(context: CheckContext, *, suite_dir: Path, sandbox: SandboxAdapter) -> Verdict:
    """Apply every part of the task's checker to a completed run, in order.

    Answer checks fail with ``wrong_answer``; the command and the Python checker with
    ``verification_failed`` (a checker that raises is reported the same way, with its
    exception as the detail).
    """
    check = context.task.check
    wrong = _answer_failure(check, context.answer)
    if wrong is not None:
        return Verdict(False, "wrong_answer", wrong)
    if check.command:
        failed = await _command_failure(check, context.workspace, sandbox)
        if failed is not None:
            return Verdict(False, "verification_failed", failed)
    if check.python is not None:
        try:
            ok = _python_checker(check.python, suite_dir)(context)
        except Exception as exc:  # the checker's own failure is the verdict's detail
            return Verdict(False, "verification_failed", f"{check.python}: {exc!r}")
        if not ok:
            return Verdict(False, "verification_failed", f"{check.python} returned {ok!r}")
    return Verdict(True)
