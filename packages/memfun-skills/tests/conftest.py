from __future__ import annotations

from pathlib import Path

import pytest

from memfun_skills import builtin_skills_dir

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CORPUS = PROJECT_ROOT.parent / "shared" / "corpora" / "skills"
#: The repository's skills/ in an editable checkout; the copy inside the wheel when the tests
#: run against an installed package (the release dry run and the per-package CI job).
BUILTINS = builtin_skills_dir()


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared skills corpus {CORPUS} is absent (it lives beside the checkout)")
    return CORPUS


@pytest.fixture
def builtins_dir() -> Path:
    assert BUILTINS is not None, "no built-in skills: neither skills/ nor the packaged copy"
    return BUILTINS


class HostSubprocessSandbox:
    """A SandboxAdapter that runs commands as plain host subprocesses (isolation "none").

    The runtime's real sandboxes were being written in parallel with this package; this
    adapter honours the contract's observable parts (argv without a shell, a cleared
    environment, cwd, stdin, a wall-clock limit, capped output) so script running can be
    tested end to end with real processes. It records every call for assertions.
    """

    name = "host-subprocess"
    isolation = "none"

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def run_command(
        self, argv, *, limits=None, files=None, network=None, env=None, stdin=None, cwd=None
    ):
        import asyncio
        import os
        import time

        from memfun_runtime.protocols import SandboxLimits, SandboxResult

        self.calls.append({"argv": list(argv), "files": files, "network": network, "cwd": cwd})
        limits = limits or SandboxLimits()
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(stdin.encode() if stdin else None), limits.wall_seconds
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            return SandboxResult(
                -9,
                "",
                "",
                duration=time.perf_counter() - started,
                timed_out=True,
                killed_reason="wall",
            )
        cap = limits.max_output_bytes
        return SandboxResult(
            process.returncode or 0,
            out[:cap].decode("utf-8", "replace"),
            err[:cap].decode("utf-8", "replace"),
            stdout_truncated=len(out) > cap,
            stderr_truncated=len(err) > cap,
            duration=time.perf_counter() - started,
        )

    async def run_code(
        self,
        code,
        *,
        language="python",
        limits=None,
        files=None,
        network=None,
        env=None,
        stdin=None,
    ):
        import sys

        return await self.run_command(
            [sys.executable, "-c", code],
            limits=limits,
            files=files,
            network=network,
            env=env,
            stdin=stdin,
        )


@pytest.fixture
def sandbox() -> HostSubprocessSandbox:
    return HostSubprocessSandbox()
