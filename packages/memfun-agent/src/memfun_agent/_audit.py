"""The audit trail of agent runs: tool calls, permission decisions, activations, sandboxes.

Every composition root that runs an agent (``memfun ask`` and the task commands, chat turns,
``memfun agent run`` and ``@NAME``, the MCP ``agents_*`` tools, ``memfun runtime worker
--agents``) passes :func:`run_audit` to :meth:`~memfun_agent.RLMAgent.from_config` or
:func:`~memfun_agent.dispatch.setup_from_config`; the agent hands it to its tool bridge.
Entries are redacted by :class:`memfun_core.audit.AuditLog` before they are written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memfun_core.audit import AUDIT_FILE, AuditLog, audit_witness_dir
from memfun_core.config import MemfunConfig
from memfun_runtime.protocols import NetworkPolicy, ReplSandbox, SandboxLimits

__all__ = ["RunAudit", "run_audit"]

_TASK_CHARS = 500


class RunAudit:
    """Appends what agent runs do to one project's audit trail.

    Calling it appends one entry (``audit("tool_call", {...})``): that is what the tool
    bridge does for each call and permission decision.

    Args:
        log: The project's audit trail.
    """

    __slots__ = ("log",)

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def __call__(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append one entry of ``kind`` (see :data:`memfun_core.audit.KINDS`)."""
        self.log.append(kind, data)

    def sandboxes(
        self,
        factory: Callable[[], ReplSandbox],
        *,
        workspace: Path,
        limits: SandboxLimits,
        network: NetworkPolicy | None,
    ) -> Callable[[], ReplSandbox]:
        """``factory``, recording each sandbox it makes (``sandbox_start``)."""

        def make() -> ReplSandbox:
            sandbox = factory()
            self(
                "sandbox_start",
                {
                    "sandbox": type(sandbox).__name__,
                    "workspace": str(workspace),
                    "limits": dataclasses.asdict(limits),
                    "network": dataclasses.asdict(network or NetworkPolicy()),
                },
            )
            return sandbox

        return make

    def activations(self, task: str, run_id: str, metadata: Mapping[str, Any]) -> None:
        """Record the skill and the agent a run activates, read from its trace metadata."""
        common = {"run_id": run_id, "task": task[:_TASK_CHARS]}
        skill = metadata.get("skill")
        if skill:
            self(
                "skill_activation",
                {**common, "skill": skill, "version": metadata.get("skill_version")},
            )
        agent = metadata.get("agent")
        if agent:
            self(
                "agent_activation",
                {
                    **common,
                    "agent": agent,
                    "task_id": metadata.get("task_id"),
                    "depth": metadata.get("depth"),
                    "parent_agent": metadata.get("parent_agent"),
                    "parent_run_id": metadata.get("parent_run_id"),
                    "worker": metadata.get("worker"),
                },
            )


def run_audit(config: MemfunConfig) -> RunAudit:
    """The audit of agent runs in the configured project (``<data dir>/audit.jsonl``)."""
    data_dir = Path(config.project_root, config.runtime.data_dir).expanduser()
    return RunAudit(AuditLog(data_dir / AUDIT_FILE, witness_dir=audit_witness_dir()))
