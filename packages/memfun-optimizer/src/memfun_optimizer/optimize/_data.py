"""Eval suites and traces as DSPy examples; the eval verdict as DSPy's metric."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import ast
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memfun_core.errors import ValidationError
from memfun_optimizer.evals import EvalSuite

if TYPE_CHECKING:
    from memfun_agent import RunTrace

__all__ = [
    "answer_of_trace",
    "examples_from_suite",
    "feedback_metric",
    "labels_from_traces",
    "score_metric",
    "split_tasks",
]


def answer_of_trace(trace: RunTrace) -> str | None:
    """The answer a run submitted, read back from its final step (``None``: none)."""
    for record in reversed(trace.records):
        if record.get("kind") != "step" or not record.get("final"):
            continue
        output = str(record.get("output") or "")
        if not output.startswith("SUBMIT "):
            return None
        text = output[len("SUBMIT ") :]
        for candidate in (text, text.rsplit(" (", 1)[0]):  # "(checks passed)" may follow
            try:
                value: object = ast.literal_eval(candidate)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, Mapping):
                answer = value.get("answer")  # pyright: ignore[reportUnknownMemberType]
                return answer if isinstance(answer, str) else None
        return None
    return None


def labels_from_traces(traces: Iterable[RunTrace], suite: EvalSuite) -> dict[str, str]:
    """Answers of solved recorded runs of ``suite``'s tasks: task id -> the newest answer.

    These label the DSPy examples, so an optimizer can show them as demos.
    """
    known = {task.id for task in suite.tasks}
    newest: dict[str, tuple[float, str]] = {}
    for trace in traces:
        meta = trace.metadata
        verdict = meta.get("eval")
        task_id = meta.get("eval_task")
        if meta.get("eval_suite") != suite.name or not isinstance(task_id, str):
            continue
        if task_id not in known or not isinstance(verdict, Mapping) or not verdict.get("solved"):
            continue
        answer = answer_of_trace(trace)
        if answer and (task_id not in newest or newest[task_id][0] < trace.started_at):
            newest[task_id] = (trace.started_at, answer)
    return {task_id: answer for task_id, (_, answer) in newest.items()}


def examples_from_suite(
    suite: EvalSuite, ids: Sequence[str] | None = None, labels: Mapping[str, str] | None = None
) -> list[Any]:
    """One ``dspy.Example`` per task (inputs ``task_id`` and ``task``; ``answer`` if labeled)."""
    import dspy  # pyright: ignore[reportMissingTypeStubs]

    wanted = set(ids) if ids is not None else None
    examples: list[Any] = []
    for task in suite.tasks:
        if wanted is not None and task.id not in wanted:
            continue
        fields: dict[str, Any] = {"task_id": task.id, "task": task.task}
        if labels and task.id in labels:
            fields["answer"] = labels[task.id]
        examples.append(dspy.Example(**fields).with_inputs("task_id", "task"))
    return examples


def split_tasks(
    suite: EvalSuite, *, held_out: Sequence[str] = (), fraction: float = 0.34, seed: int = 0
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Task ids to optimize on and held-out task ids to measure on.

    ``held_out`` names them; otherwise a seeded ``fraction`` of the tasks (at least one).

    Raises:
        ValidationError: Fewer than two tasks, or nothing left to train on.
    """
    ids = [task.id for task in suite.tasks]
    if held_out:
        suite.select(tuple(held_out))  # NotFoundError for an unknown id
        test = [i for i in ids if i in set(held_out)]
    else:
        shuffled = ids[:]
        random.Random(seed).shuffle(shuffled)  # noqa: S311 - a reproducible split
        count = max(1, round(len(ids) * fraction))
        test = sorted(shuffled[:count], key=ids.index)
    train = [i for i in ids if i not in test]
    if not train or not test:
        raise ValidationError(
            f"the suite {suite.name!r} has {len(ids)} task(s): too few to split",
            field="held_out",
            rule="at least one task to optimize on and one held out",
            hint="add tasks to the suite or name the held-out ones with --held-out",
        )
    return tuple(train), tuple(test)


def score_metric(gold: Any, pred: Any, trace: Any = None) -> float:
    """MIPROv2's metric: 1.0 when the eval checker solved the task, else 0.0."""
    del gold, trace
    return 1.0 if getattr(pred, "solved", False) else 0.0


def feedback_metric(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> Any:
    """GEPA's metric: the same score, with the checker's verdict as feedback to reflect on."""
    import dspy  # pyright: ignore[reportMissingTypeStubs]

    del trace, pred_name, pred_trace
    solved = bool(getattr(pred, "solved", False))
    if solved:
        feedback = f"Solved task {gold.task_id}."
    else:
        failure = getattr(pred, "failure", None) or "failed"
        detail = str(getattr(pred, "detail", "") or "")[:1_000]
        feedback = f"Task {gold.task_id} was not solved ({failure}): {detail}"
    return dspy.Prediction(score=1.0 if solved else 0.0, feedback=feedback)
