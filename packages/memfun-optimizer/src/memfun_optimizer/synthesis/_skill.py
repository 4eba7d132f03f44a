"""Drafting a SKILL.md from a cluster of runs through a typed DSPy signature; accepting it.

Drafts land in ``<project>/.memfun/skills/_drafts/<name>/`` (discovery never looks there) and
are offered only when Memfun's validator and, when installed, the reference validator
``skills-ref`` accept them; ``accept_skill`` moves one into ``.memfun/skills/`` where it is
discovered and routed to like any project skill.
"""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportMissingTypeStubs=false

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_optimizer.synthesis._cluster import RunCluster
from memfun_skills import validate_skill

__all__ = ["DRAFTS_DIR", "SkillDraft", "accept_skill", "draft_skill", "reference_validator"]

DRAFTS_DIR = "_drafts"
"""The drafts' folder inside ``.memfun/skills`` (and ``.memfun/agents``)."""
_SKILLS = Path(".memfun") / "skills"
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_NAME = 64
_INSTRUCTIONS = """Write an Agent Skill (agentskills.io) that captures how these successful runs
did their task, so the next similar task goes the same way. `name`: 1-64 characters,
lowercase letters, digits and single hyphens, not one of `taken_names`. `description`: one or
two sentences saying what the skill does and when to use it, with the words a user would
write in such a task. `steps`: the skill's instructions in Markdown, naming the tools in the order
the runs used them."""


@dataclass(frozen=True, slots=True)
class SkillDraft:
    """A drafted skill that passed validation.

    Attributes:
        name: The skill's name.
        path: Its folder under ``.memfun/skills/_drafts``.
        validators: The validators that accepted it (``memfun``, ``skills-ref``).
        cluster: The runs it was drafted from.
    """

    name: str
    path: Path
    validators: tuple[str, ...]
    cluster: RunCluster


def reference_validator() -> Any:
    """``skills_ref.validate`` when the reference validator is installed, else ``None``."""
    try:
        return importlib.import_module("skills_ref").validate
    except ImportError:
        return None


def _signature() -> Any:
    import dspy

    make: Any = dspy.Signature
    return make(
        {
            "task_kind": (str, dspy.InputField(desc="The kind of task the runs did")),
            "example_tasks": (list[str], dspy.InputField(desc="What the users asked")),
            "tool_calls": (list[str], dspy.InputField(desc="The tools the runs called, in order")),
            "taken_names": (list[str], dspy.InputField(desc="Skill names already in use")),
            "name": (str, dspy.OutputField(desc="The skill's name")),
            "description": (str, dspy.OutputField(desc="What it does and when to use it")),
            "steps": (
                str,
                dspy.OutputField(desc="The skill's instructions: its steps, in Markdown"),
            ),
        },
        _INSTRUCTIONS,
    )


def _skill_md(name: str, description: str, instructions: str, cluster: RunCluster) -> str:
    front = yaml.safe_dump(
        {
            "name": name,
            "description": description,
            "metadata": {
                "generated-by": "memfun optimize synthesize",
                "source-runs": str(len(cluster.run_ids)),
            },
        },
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
    )
    examples = "\n".join(f"- {task}" for task in cluster.tasks[:5])
    tools = " -> ".join(cluster.tools) or "(none)"
    return (
        f"---\n{front}---\n\n# {name}\n\n{instructions.strip()}\n\n"
        f"## Where this came from\n\nDrafted from {len(cluster.run_ids)} successful runs, "
        f"such as:\n\n{examples}\n\nTheir tool calls: {tools}\n"
    )


def _errors(folder: Path) -> tuple[list[str], tuple[str, ...]]:
    report = validate_skill(folder)
    errors = [str(error) for error in report.errors]
    used = ["memfun"]
    reference = reference_validator()
    if reference is not None:
        errors += [f"skills-ref: {message}" for message in reference(folder)]
        used.append("skills-ref")
    return errors, tuple(used)


def draft_skill(
    cluster: RunCluster, *, lm: Any, project_root: str | Path, taken: Iterable[str] = ()
) -> SkillDraft:
    """Draft a skill for ``cluster`` with ``lm`` and keep it only if it validates.

    Raises:
        ValidationError: The drafted name or skill is invalid (nothing is kept).
        ConflictError: The name is taken by a skill or a draft.
    """
    drafts = Path(project_root) / _SKILLS / DRAFTS_DIR
    taken_names = sorted({*taken, *(p.name for p in drafts.glob("*") if p.is_dir())})
    name, drafted = draft_named(_signature(), cluster, taken_names, lm, what="skill")
    folder = drafts / name
    folder.mkdir(parents=True)
    text = _skill_md(name, str(drafted.description), str(drafted.steps), cluster)
    (folder / "SKILL.md").write_text(text, encoding="utf-8")
    errors, used = _errors(folder)
    if errors:
        shutil.rmtree(folder)
        raise ValidationError(
            "; ".join(errors), field="draft", rule="a valid Agent Skill", location=str(folder)
        )
    return SkillDraft(name, folder, used, cluster)


def accept_skill(project_root: str | Path, name: str) -> Path:
    """Move draft ``name`` into ``.memfun/skills/`` (validated again); returns its folder.

    Raises:
        NotFoundError: No such draft.
        ConflictError: A project skill of that name exists.
        ValidationError: The draft no longer validates (it was edited).
    """
    skills = Path(project_root) / _SKILLS
    drafts = skills / DRAFTS_DIR
    known = tuple(sorted(p.name for p in drafts.glob("*") if p.is_dir()))
    if not _NAME.fullmatch(name) or name not in known:
        raise NotFoundError(
            "skill draft", name, suggestions=known[:3],
            hint=None if known else "make drafts with `memfun optimize synthesize`",
        )  # fmt: skip
    target = skills / name
    if target.exists():
        raise ConflictError(f"the project already has a skill {name!r}", hint=f"see {target}")
    errors, _ = _errors(drafts / name)
    if errors:
        raise ValidationError("; ".join(errors), field="draft", rule="a valid Agent Skill")
    (drafts / name).rename(target)
    return target


def draft_named(
    signature: Any, cluster: RunCluster, taken_names: list[str], lm: Any, *, what: str
) -> tuple[str, Any]:
    """Ask the drafting model for a ``what`` (skill or agent) for ``cluster``; check its name.

    The name is checked before it names any file or folder.

    Returns:
        The name and the model's whole prediction.

    Raises:
        ValidationError: The drafted name is not a lowercase hyphenated name of <= 64 chars.
        ConflictError: A ``what`` or draft of that name exists.
    """
    import dspy

    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        drafted = dspy.Predict(signature)(
            task_kind=cluster.kind,
            example_tasks=list(cluster.tasks[:8]),
            tool_calls=list(cluster.tools),
            taken_names=taken_names,
        )
    name = str(drafted.name).strip()
    if len(name) > _MAX_NAME or not _NAME.fullmatch(name):
        raise ValidationError(
            f"the drafted name {name[:80]!r} is not a valid {what} name",
            field="name", rule="1-64 lowercase letters, digits and single hyphens",
        )  # fmt: skip
    if name in taken_names:
        raise ConflictError(f"a draft or {what} named {name!r} exists already", hint="draft again")
    return name, drafted
