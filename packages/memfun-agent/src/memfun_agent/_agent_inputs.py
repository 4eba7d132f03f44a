"""A run's inputs: the task, workspace facts, repo map, instructions, memories and context."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from memfun_agent._project import project_instructions_for
from memfun_agent._prompt import repo_map_tokens_for
from memfun_agent._verify import Verifier
from memfun_agent.tools import ToolBridge
from memfun_agent.traces import TraceRecorder
from memfun_core.errors import ValidationError

__all__ = ["RESERVED_INPUTS", "MemoryRecall", "check_context_names", "run_inputs"]

RESERVED_INPUTS = frozenset(
    {"task", "workspace", "repo_map", "skill_instructions", "project_instructions", "memories"}
)
"""The inputs every run has; a run's extra context may not use these names."""

MemoryRecall = Callable[[str], Sequence[tuple[str, str]]]
"""``recall(task) -> [(id, text), ...]``: the memories a run on ``task`` is given, best first,
already fitted to a size budget (the CLI passes ``memfun_optimizer.memory``'s BM25 search)."""


def check_context_names(names: Iterable[str]) -> None:
    """Raise :class:`ValidationError` unless every name is an identifier of no other input."""
    bad = [n for n in names if not n.isidentifier() or n in RESERVED_INPUTS]
    if bad:
        raise ValidationError(
            f"invalid context names {bad!r}",
            field="context",
            rule="identifiers other than " + ", ".join(sorted(RESERVED_INPUTS)),
        )


def workspace_facts(root: Path, verifier: Verifier | None, tools: Iterable[str]) -> str:
    """The ``workspace`` input: the folder, its top level, the checks and the tools."""
    try:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError:
        entries = []
    shown = [e for e in entries if e not in (".git/", ".memfun/", ".venv/")][:60]
    checks = ", ".join(c.name for c in verifier.checks) if verifier and verifier.checks else "none"
    return (
        f"Repository folder: {root.name} (the REPL's current directory, read-only).\n"
        f"Top level: {', '.join(shown) or '(empty)'}\n"
        f"Checks verify() runs: {checks}\n"
        f"Tools: {', '.join(tools)}"
    )


def _repo_map(bridge: ToolBridge, recorder: TraceRecorder, context_window: int | None) -> str:
    if "repomap_map" not in bridge.names:
        return ""
    try:
        value = bridge.call("repomap_map", token_budget=repo_map_tokens_for(context_window))
    except Exception as exc:  # the map is a help, not a requirement
        recorder.add("note", message=f"no repo map: {exc}")
        return ""
    if isinstance(value, dict):
        return str(cast("dict[str, Any]", value).get("text", ""))
    return str(value)


async def _recall(recall: MemoryRecall | None, task: str, recorder: TraceRecorder) -> str:
    """The ``memories`` input of a run on ``task``; their ids are cited in the trace."""
    if recall is None:
        return ""
    recalled = await asyncio.to_thread(recall, task)
    text = "\n".join(f"[{ident}] {memory}" for ident, memory in recalled)
    recorder.add("memories", ids=[ident for ident, _ in recalled], bytes=len(text.encode()))
    return text


async def run_inputs(
    task: str,
    *,
    workspace: Path,
    bridge: ToolBridge,
    verifier: Verifier | None,
    recorder: TraceRecorder,
    repo_map: str | None,
    skill_instructions: str,
    project_instructions: int | None,
    recall: MemoryRecall | None,
    context_window: int | None,
    extra: Mapping[str, str],
) -> dict[str, Any]:
    """Gather a run's inputs, recording in the trace what was read.

    Args:
        task: What to do.
        workspace: The repository folder.
        bridge: The tools (the repo map comes from its ``repomap_map`` tool).
        verifier: The project's checks, named in the workspace facts.
        recorder: The run's trace.
        repo_map: The repo map text (``None``: built with the tool, sized to the window).
        skill_instructions: The activated skill's instructions.
        project_instructions: The most bytes of ``AGENTS.md``/``CLAUDE.md`` to read.
        recall: Recalls the memories relevant to the task.
        context_window: The model's window in tokens, when known.
        extra: More inputs (name -> text), already checked.
    """
    if repo_map is None:
        repo_map = await asyncio.to_thread(_repo_map, bridge, recorder, context_window)
    project = await asyncio.to_thread(
        project_instructions_for, workspace, task, project_instructions
    )
    recorder.add("project_instructions", bytes=len(project.encode()))
    memories = await _recall(recall, task, recorder)
    return {
        "task": task,
        "workspace": workspace_facts(workspace, verifier, bridge.names),
        "repo_map": repo_map,
        "skill_instructions": skill_instructions,
        "project_instructions": project,
        "memories": memories,
        **extra,
    }
