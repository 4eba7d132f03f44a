"""The merge step: a DSPy signature that writes the answer from the nodes' results and checks it."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportUntypedBaseClass=false

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import dspy  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent.orchestrate._result import NodeResult

__all__ = ["MergeResults", "Merged", "merge_results", "results_text"]

_ANSWER_CHARS = 6_000
"""Each node's answer is cut to this many characters in the merge prompt."""


class MergeResults(dspy.Signature):
    """Write the answer to a whole task from its sub-tasks' results, and check it.

    Several agents did the sub-tasks. Base the answer only on the results given (say which
    sub-task found what); never invent a result for a sub-task that failed or was skipped:
    name it and why. Then check: is the task fully accomplished by these results, with
    nothing missing or contradictory?
    """

    task: str = dspy.InputField(desc="the whole task")
    results: str = dspy.InputField(
        desc="JSON list of the sub-tasks: id, agent, task, status, answer, summary, "
        "changed files, error"
    )
    answer: str = dspy.OutputField(desc="the answer to the whole task, in Markdown")
    complete: bool = dspy.OutputField(
        desc="true only if the results together fully accomplish the task"
    )
    gaps: str = dspy.OutputField(desc="what is missing or inconsistent; empty when complete")


@dataclass(frozen=True, slots=True)
class Merged:
    """The merge step's answer and check."""

    answer: str
    complete: bool
    gaps: str


def results_text(results: Sequence[NodeResult]) -> str:
    """The nodes' results as the JSON the merge step reads."""
    rows = [
        {
            "id": r.node.id,
            "agent": r.agent or r.node.target,
            "task": r.node.task,
            "status": r.status,
            "answer": r.answer[:_ANSWER_CHARS],
            "summary": r.summary[:_ANSWER_CHARS],
            "changed_files": list(r.changed_files),
            "error": r.error,
        }
        for r in results
    ]
    return json.dumps(rows, indent=1)


def merge_results(task: str, results: Sequence[NodeResult]) -> Merged:
    """Ask the configured DSPy LM to merge and check (synchronous: run it in a thread)."""
    prediction = dspy.ChainOfThought(MergeResults)(task=task, results=results_text(results))
    return Merged(
        answer=str(prediction.answer or ""),
        complete=bool(prediction.complete),
        gaps=str(prediction.gaps or ""),
    )
