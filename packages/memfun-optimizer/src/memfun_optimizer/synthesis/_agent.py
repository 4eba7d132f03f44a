"""Drafting an AGENT.md from a cluster of runs through a typed DSPy signature; accepting it.

The model names and describes the agent and writes its instructions; Memfun writes the file
itself: the frontmatter through ``yaml.safe_dump``, the tools computed from the runs (a few
read-only tools plus exactly the tools the runs called, so a write or shell tool the runs did
not use is never granted, and ``read-only: true`` when they wrote nothing). A draft lands in
``<project>/.memfun/agents/_drafts/NAME.md`` (discovery never looks inside ``_drafts``) only
when :func:`memfun_agent.definitions.validate_agent_text` accepts it and the validated
definition has exactly the computed tools; :func:`accept_agent` validates it again and
moves it into ``.memfun/agents/`` where it is discovered like any project agent.
"""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportMissingTypeStubs=false

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from memfun_agent.definitions import AgentValidationReport, validate_agent_text
from memfun_core.config import MemfunConfig
from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_optimizer.synthesis._cluster import RunCluster
from memfun_optimizer.synthesis._skill import DRAFTS_DIR, draft_named

__all__ = ["AGENT_READ_TOOLS", "AgentDraft", "accept_agent", "agent_tools", "draft_agent"]

AGENT_READ_TOOLS = ("fs_read", "fs_list", "fs_glob", "search_text", "repomap_map")
"""Read-only tools every drafted agent gets, on top of the tools its runs called."""
_AGENTS = Path(".memfun") / "agents"
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_NAME = 64
_TOOL = re.compile(r"[a-z][a-z0-9_]*")
_WRITERS = frozenset({"fs_write", "fs_edit", "fs_multi_edit", "git_commit", "git_checkout"})
_SHELL = "shell"
_NOT_TOOLS = frozenset({"delegate", "delegate_capability", "agent_validate", "run_script"})
_INSTRUCTIONS = """Write a Memfun agent definition (AGENT.md) for the kind of task these
successful runs did, so the next such task can be handed to a specialised agent. `name`: 1-64
characters, lowercase letters, digits and single hyphens, not one of `taken_names`.
`description`: two or three sentences saying what the agent does and when to use it, with the
words a user would write in such a task (an orchestrator picks agents by it). `body`: the
agent's instructions in Markdown: who it is, how to work in Memfun's REPL step by step
naming the tools in the order the runs used them, and that it SUBMITs `answer` (the result with
evidence such as path:line) and `summary`. Its tools are decided by Memfun, not by you."""


@dataclass(frozen=True, slots=True)
class AgentDraft:
    """A drafted agent that passed validation.

    Attributes:
        name: The agent's name.
        path: Its file, ``.memfun/agents/_drafts/NAME.md``.
        tools: The tools it was given (read-only ones plus those its runs called).
        read_only: Whether it may change no file (its runs changed none).
        warnings: The validator's warnings (the draft is valid).
        cluster: The runs it was drafted from.
    """

    name: str
    path: Path
    tools: tuple[str, ...]
    read_only: bool
    warnings: tuple[str, ...]
    cluster: RunCluster


def agent_tools(cluster: RunCluster) -> tuple[str, ...]:
    """The tools an agent drafted from ``cluster`` gets.

    :data:`AGENT_READ_TOOLS`, then every tool the runs called (in first-use order) that is a
    plain Memfun tool name; delegation and agent-writing tools are never inferred.
    """
    used = cluster.used_tools or cluster.tools
    called = [t for t in used if _TOOL.fullmatch(t) and t not in _NOT_TOOLS]
    return tuple(dict.fromkeys((*AGENT_READ_TOOLS, *called)))


def _signature() -> Any:
    import dspy

    make: Any = dspy.Signature
    return make(
        {
            "task_kind": (str, dspy.InputField(desc="The kind of task the runs did")),
            "example_tasks": (list[str], dspy.InputField(desc="What the users asked")),
            "tool_calls": (list[str], dspy.InputField(desc="The tools the runs called, in order")),
            "taken_names": (list[str], dspy.InputField(desc="Agent names already in use")),
            "name": (str, dspy.OutputField(desc="The agent's name")),
            "description": (str, dspy.OutputField(desc="What it does and when to use it")),
            "body": (str, dspy.OutputField(desc="The agent's instructions, in Markdown")),
        },
        _INSTRUCTIONS,
    )


def _agent_md(
    name: str, description: str, instructions: str, tools: tuple[str, ...], cluster: RunCluster
) -> str:
    fields: dict[str, Any] = {"name": name, "description": description, "tools": list(tools)}
    if not any(t in _WRITERS or t == _SHELL for t in tools):
        fields["read-only"] = True
    front = yaml.safe_dump(fields, default_flow_style=False, sort_keys=False, allow_unicode=True)
    examples = "\n".join(f"- {task}" for task in cluster.tasks[:5])
    calls = " -> ".join(cluster.tools) or "(none)"
    return (
        f"---\n{front}---\n\n{instructions.strip()}\n\n"
        f"## Where this came from\n\nDrafted by `memfun optimize synthesize --kind agent` from "
        f"{len(cluster.run_ids)} successful runs, such as:\n\n{examples}\n\n"
        f"Their tool calls: {calls}\n"
    )


def _problems(report: AgentValidationReport, tools: tuple[str, ...]) -> list[str]:
    """Errors, plus anything the validated definition has beyond what Memfun wrote."""
    problems = [str(error) for error in report.errors]
    found = report.definition
    if found is None:
        return problems or ["the draft did not load"]
    if found.tools != tools:
        problems.append(f"its tools would be {found.tools}, not {tools}")
    if found.delegates or found.skills or found.mcp_servers or found.model or found.extra:
        problems.append("it names delegates, skills, MCP servers, a model or unknown fields")
    return problems


def _taken(root: Path, taken: Iterable[str]) -> list[str]:
    drafts = root / _AGENTS / DRAFTS_DIR
    return sorted({*taken, *(p.stem for p in drafts.glob("*.md"))})


def draft_agent(
    cluster: RunCluster,
    *,
    lm: Any,
    project_root: str | Path,
    taken: Iterable[str] = (),
    config: MemfunConfig | None = None,
) -> AgentDraft:
    """Draft an agent for ``cluster`` with ``lm`` and keep it only if it validates.

    Args:
        cluster: Similar successful runs (:func:`~memfun_optimizer.synthesis.cluster_runs`).
        lm: The DSPy model that names, describes and instructs the agent.
        project_root: The project; the draft goes to ``.memfun/agents/_drafts/``.
        taken: Names in use (the discovered agents).
        config: Passed to the validator (``[agents.models]``).

    Raises:
        ValidationError: The drafted name or agent is invalid (nothing is kept).
        ConflictError: The name is taken by an agent or a draft.
    """
    root = Path(project_root)
    taken_names = _taken(root, taken)
    name, drafted = draft_named(_signature(), cluster, taken_names, lm, what="agent")
    tools = agent_tools(cluster)
    text = _agent_md(name, str(drafted.description), str(drafted.body), tools, cluster)
    target = root / _AGENTS / DRAFTS_DIR / f"{name}.md"
    report = validate_agent_text(text, root / _AGENTS / f"{name}.md", config=config)
    problems = _problems(report, tools)
    if problems:  # checked before anything is written: nothing to remove
        raise ValidationError(
            "; ".join(problems), field="draft", rule="a valid agent definition",
            location=str(target),
        )  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as handle:  # "x": never overwrite
        handle.write(text)
    definition = report.definition
    return AgentDraft(
        name,
        target,
        tools,
        bool(definition and definition.read_only),
        tuple(str(w) for w in report.warnings),
        cluster,
    )


def accept_agent(
    project_root: str | Path, name: str, *, config: MemfunConfig | None = None
) -> Path:
    """Move draft ``name`` into ``.memfun/agents/NAME.md`` (validated again); return its path.

    Raises:
        NotFoundError: No such draft.
        ConflictError: A project agent of that name exists.
        ValidationError: The draft no longer validates (it was edited).
    """
    agents = Path(project_root) / _AGENTS
    drafts = agents / DRAFTS_DIR
    known = tuple(sorted(p.stem for p in drafts.glob("*.md") if not p.is_symlink()))
    if not _NAME.fullmatch(name) or name not in known:
        raise NotFoundError(
            "agent draft", name, suggestions=known[:3],
            hint=None if known else "make drafts with `memfun optimize synthesize --kind agent`",
        )  # fmt: skip
    target = agents / f"{name}.md"
    if target.exists() or target.is_symlink() or (agents / name).exists():
        raise ConflictError(f"the project already has an agent {name!r}", hint=f"see {target}")
    source = drafts / f"{name}.md"
    report = validate_agent_text(source.read_text(encoding="utf-8"), target, config=config)
    if not report.valid:
        errors = "; ".join(str(error) for error in report.errors)
        raise ValidationError(errors, field="draft", rule="a valid agent definition")
    source.rename(target)
    return target
