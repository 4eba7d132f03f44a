"""The project's own checks (pytest, ruff, eslint, go vet, cargo check), run in the sandbox."""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from memfun_runtime.protocols import (
    FileSystemView,
    Mount,
    NetworkPolicy,
    SandboxAdapter,
    SandboxLimits,
)

__all__ = ["Check", "CheckResult", "Verification", "Verifier", "detect_checks", "python_env"]

_OUTPUT_TAIL = 6_000


@dataclass(frozen=True, slots=True)
class Check:
    """One check of the project.

    Attributes:
        name: ``pytest``, ``ruff``, ``eslint``, ``go vet`` or ``cargo check``.
        argv: The command, run in the workspace inside the sandbox.
        mounts: Host folders the command needs (its interpreter or toolchain), read-only.
        env: Environment of the command inside the sandbox.
    """

    name: str
    argv: tuple[str, ...]
    mounts: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check reported."""

    name: str
    command: str
    passed: bool
    exit_code: int
    output: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    """All checks of one verification round."""

    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """Whether every check passed (``True`` when there is none)."""
        return all(result.passed for result in self.results)

    def feedback(self) -> str:
        """The failures, as shown to the model."""
        failed = [r for r in self.results if not r.passed]
        if not failed:
            return "All checks passed: " + ", ".join(r.name for r in self.results)
        parts = [
            f"$ {r.command}  (exit {r.exit_code}{', timed out' if r.timed_out else ''})\n{r.output}"
            for r in failed
        ]
        return "Checks failed:\n\n" + "\n\n".join(parts)

    def to_json(self) -> dict[str, object]:
        """A JSON summary (for traces and the REPL)."""
        return {
            "passed": self.passed,
            "checks": [
                {
                    "name": r.name,
                    "command": r.command,
                    "passed": r.passed,
                    "exit_code": r.exit_code,
                    "output": r.output,
                }
                for r in self.results
            ],
        }


def python_env(workspace: Path) -> Path | None:
    """The virtual environment whose tools run Python checks.

    The workspace's own ``.venv`` when it has one, else the environment running Memfun
    when that is a virtual environment.
    """
    own = workspace / ".venv"
    if (own / "bin" / "python").exists():
        return own
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix)
    return None


def _interpreter_root(python: Path) -> str | None:
    real = Path(os.path.realpath(python))
    root = real.parents[1]
    return None if str(root).startswith("/usr") else str(root)


def _pyproject(workspace: Path) -> dict[str, object]:
    try:
        return tomllib.loads((workspace / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _has_python_tests(workspace: Path) -> bool:
    if (workspace / "tests").is_dir() or (workspace / "test").is_dir():
        return True
    return any(workspace.glob("test_*.py")) or any(workspace.glob("*_test.py"))


def _python_checks(workspace: Path, env: Path | None) -> list[Check]:
    if env is None:
        return []
    python = env / "bin" / "python"
    mounts = tuple(p for p in (str(env), _interpreter_root(python)) if p is not None)
    run_env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": f"{env / 'bin'}:/usr/bin:/bin"}
    checks: list[Check] = []
    if _has_python_tests(workspace) and (env / "bin" / "pytest").exists():
        argv = (str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider")
        checks.append(Check("pytest", argv, mounts, run_env))
    tool = _pyproject(workspace).get("tool")
    ruff_configured = (isinstance(tool, dict) and "ruff" in tool) or any(
        (workspace / name).exists() for name in ("ruff.toml", ".ruff.toml")
    )
    if ruff_configured and (env / "bin" / "ruff").exists():
        argv = (str(env / "bin" / "ruff"), "check", "--no-cache", ".")
        checks.append(Check("ruff", argv, mounts, run_env))
    return checks


def _toolchain_check(name: str, binary: str, args: Sequence[str]) -> Check | None:
    found = shutil.which(binary)
    if found is None:
        return None
    real = Path(os.path.realpath(found))
    mounts = () if str(real).startswith("/usr") else (str(real.parents[1]),)
    return Check(name, (str(real), *args), mounts, {"PATH": f"{real.parent}:/usr/bin:/bin"})


def detect_checks(workspace: Path, *, env: Path | None = None) -> list[Check]:
    """The checks this project has and this machine can run.

    Python projects: ``pytest`` (a tests folder or test files) and ``ruff`` (configured),
    from the workspace's ``.venv`` or Memfun's own environment. ``eslint`` when
    ``node_modules/.bin/eslint`` exists, ``go vet`` with ``go.mod``, ``cargo check`` with
    ``Cargo.toml``, when the toolchain is installed.
    """
    checks = _python_checks(workspace, env if env is not None else python_env(workspace))
    eslint = workspace / "node_modules" / ".bin" / "eslint"
    if (workspace / "package.json").exists() and eslint.exists():
        node = _toolchain_check("eslint", "node", (str(eslint), "."))
        if node is not None:
            checks.append(node)
    if (workspace / "go.mod").exists():
        go = _toolchain_check("go vet", "go", ("vet", "./..."))
        if go is not None:
            checks.append(go)
    if (workspace / "Cargo.toml").exists():
        cargo = _toolchain_check("cargo check", "cargo", ("check", "--offline", "--quiet"))
        if cargo is not None:
            checks.append(cargo)
    return checks


class Verifier:
    """Runs a project's checks in the sandbox, with the workspace read-only.

    Args:
        sandbox: Where the checks run (never the host).
        workspace: The project folder.
        checks: The checks (default: :func:`detect_checks`).
        timeout: Seconds each check may take.
    """

    def __init__(
        self,
        sandbox: SandboxAdapter,
        workspace: Path,
        *,
        checks: Sequence[Check] | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.sandbox = sandbox
        self.workspace = workspace
        self.checks = list(checks) if checks is not None else detect_checks(workspace)
        self.timeout = timeout

    async def run(self, *, timeout: float | None = None) -> Verification:  # noqa: ASYNC109
        """Run every check (each within ``timeout`` or the verifier's default)."""
        results: list[CheckResult] = []
        for check in self.checks:
            files = FileSystemView(
                workspace=str(self.workspace),
                workspace_writable=False,
                mounts=tuple(Mount(path, path) for path in check.mounts),
            )
            limit = self.timeout if timeout is None else min(timeout, self.timeout)
            done = await self.sandbox.run_command(
                check.argv,
                limits=SandboxLimits(wall_seconds=max(limit, 1.0)),
                files=files,
                network=NetworkPolicy(),
                env=check.env,
            )
            output = (done.stdout + ("\n" + done.stderr if done.stderr.strip() else "")).strip()
            if len(output) > _OUTPUT_TAIL:
                output = "..." + output[-_OUTPUT_TAIL:]
            results.append(
                CheckResult(
                    name=check.name,
                    command=" ".join(check.argv),
                    passed=done.exit_code == 0 and not done.timed_out,
                    exit_code=done.exit_code,
                    output=output,
                    timed_out=done.timed_out,
                )
            )
        return Verification(tuple(results))
