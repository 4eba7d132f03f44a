"""Running a skill's scripts: only through a SandboxAdapter, never on the host directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from memfun_core.errors import PermissionDeniedError
from memfun_runtime.protocols import (
    FileSystemView,
    Mount,
    NetworkPolicy,
    SandboxAdapter,
    SandboxLimits,
    SandboxResult,
)
from memfun_skills._activation import ActivatedSkill

__all__ = ["INTERPRETERS", "ScriptRunner"]

INTERPRETERS: Mapping[str, tuple[str, ...]] = {
    ".py": ("python3",),
    ".sh": ("bash",),
    ".bash": ("bash",),
    ".js": ("node",),
    ".mjs": ("node",),
    ".rb": ("ruby",),
}
"""How a script is started, by file suffix; other scripts are executed directly."""


class ScriptRunner:
    """Runs the files under a skill's ``scripts/`` inside a sandbox.

    The skill folder is mounted read-only at its own path; the workspace (when given) is
    the working directory; the network is off unless a policy is passed. Only scripts the
    skill lists can be run.
    """

    def __init__(
        self,
        sandbox: SandboxAdapter,
        *,
        limits: SandboxLimits | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._limits = limits
        self._network = network or NetworkPolicy()

    @property
    def sandbox(self) -> SandboxAdapter:
        """The adapter scripts run in."""
        return self._sandbox

    def command(self, skill: ActivatedSkill, script: str, args: Sequence[str] = ()) -> list[str]:
        """The argv that runs ``script`` (a path under ``scripts/``) with ``args``.

        Raises:
            PermissionDeniedError: ``script`` is not one of the skill's scripts.
        """
        if script not in {resource.path for resource in skill.scripts}:
            raise PermissionDeniedError(
                f"running {script!r}",
                f"it is not a script of skill {skill.name!r}",
                hint="scripts must be files under the skill's scripts/ folder",
            )
        path = skill.resource_path(script)
        return [*INTERPRETERS.get(path.suffix.lower(), ()), str(path), *args]

    async def run(
        self,
        skill: ActivatedSkill,
        script: str,
        args: Sequence[str] = (),
        *,
        workspace: str | Path | None = None,
        workspace_writable: bool = False,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """Run one of the skill's scripts in the sandbox and return its result.

        Raises:
            PermissionDeniedError: ``script`` is not one of the skill's scripts.
        """
        argv = self.command(skill, script, args)
        skill_dir = str(skill.properties.skill_dir.resolve())
        files = FileSystemView(
            workspace=str(workspace) if workspace is not None else None,
            workspace_writable=workspace_writable,
            mounts=(Mount(host_path=skill_dir, sandbox_path=skill_dir, writable=False),),
        )
        return await self._sandbox.run_command(
            argv,
            limits=self._limits,
            files=files,
            network=self._network,
            env=env,
            stdin=stdin,
            # The workspace is the working directory by the protocol; its host path may not
            # exist inside the sandbox (bubblewrap mounts it elsewhere).
        )
