"""Learnings from a finished run, through a typed DSPy signature (imports DSPy: load lazily)."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dspy  # pyright: ignore[reportMissingTypeStubs]
import pydantic

from memfun_core.errors import BackendError
from memfun_optimizer.memory._file import MAX_TEXT_CHARS, clean_text, normalise
from memfun_optimizer.memory._store import Learning, MemoryStore

__all__ = ["ExtractLearnings", "LearningNote", "extract_learnings", "run_digest"]

_MAX_NEW = 5
_STEP_CHARS = 600
_DIGEST_CHARS = 6000


class LearningNote(pydantic.BaseModel):
    """One learning the model proposes."""

    kind: Literal["worked", "fact", "preference"]
    text: str


class ExtractLearnings(dspy.Signature):
    """Write down what a later run on this project should know, learnt from a finished run.

    Keep only durable knowledge that helps with other tasks: how the project is built,
    run or tested; where things live; its conventions; an approach or command that worked
    (kind `worked`); what the user said they prefer (kind `preference`); facts about the
    project (kind `fact`). One short sentence each. Not the answer to this task, not
    secrets, not guesses, nothing already in `known`. An empty list when nothing is worth
    keeping.
    """

    task: str = dspy.InputField(desc="What the run was asked to do")
    outcome: str = dspy.InputField(desc="`completed`, or why the run stopped")
    answer: str = dspy.InputField(desc="The run's reply to the user")
    summary: str = dspy.InputField(desc="What the run changed and why")
    steps: str = dspy.InputField(desc="The run's steps (reasoning, code, output), abbreviated")
    known: list[str] = dspy.InputField(desc="Learnings already remembered")
    learnings: list[LearningNote] = dspy.OutputField(desc="New learnings, at most five")


def run_digest(steps: Sequence[Mapping[str, Any]]) -> str:
    """The steps of a run as short text (each field cut, the whole cut to a few KB)."""
    parts: list[str] = []
    for number, step in enumerate(steps, 1):
        fields = [
            f"{name}: {str(step.get(name) or '')[:_STEP_CHARS]}"
            for name in ("reasoning", "code", "output", "error")
            if step.get(name)
        ]
        parts.append(f"## step {number}\n" + "\n".join(fields))
    text = "\n\n".join(parts)
    return text if len(text) <= _DIGEST_CHARS else text[-_DIGEST_CHARS:]


def extract_learnings(
    store: MemoryStore,
    lm: Any,
    *,
    task: str,
    outcome: str,
    answer: str,
    summary: str,
    steps: Sequence[Mapping[str, Any]] = (),
    max_known: int = 20,
) -> list[Learning]:
    """Ask ``lm`` for the learnings of a finished run and store the new ones (project scope).

    The model sees the learnings already stored that are relevant to the task, and each
    proposal is deduplicated against the store (normalised text), cut to one line of at
    most 500 characters, and capped at five per run.

    Returns:
        The learnings added (duplicates are left out).

    Raises:
        BackendError: The model call failed or its reply could not be parsed.
    """
    # What the model is shown as known: never a project learning the user has not signed
    # (a repository's own MEMORY.md must not steer what gets learnt, and signed, next).
    known = [
        hit.learning.text
        for hit in store.search(task, limit=max_known * 2)
        if hit.learning.signed or hit.learning.scope != "project"
    ][:max_known]
    predict = dspy.Predict(ExtractLearnings)
    try:
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
            prediction = predict(
                task=task,
                outcome=outcome,
                answer=answer,
                summary=summary,
                steps=run_digest(steps),
                known=known,
            )
    except Exception as exc:  # a model or parse failure: reported, never swallowed
        raise BackendError(
            f"extracting learnings failed: {type(exc).__name__}: {exc}",
            backend="model",
            hint="the run itself is kept; set [memory] learn = false to skip this step",
        ) from exc
    added: list[Learning] = []
    seen = {normalise(text) for text in known}
    notes: list[LearningNote] = list(prediction.learnings or [])
    for note in notes[:_MAX_NEW]:
        text = clean_text(note.text)[:MAX_TEXT_CHARS]
        if not normalise(text) or normalise(text) in seen:
            continue
        seen.add(normalise(text))
        learning, new = store.add(text, kind=note.kind)
        if new:
            added.append(learning)
    return added
