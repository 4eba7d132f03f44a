"""Persistent memory around a run (``[memory] enabled``): recall before, learn after.

The task commands and chat turns build the agent with :func:`memory_recall` (the learnings
of ``MEMORY.md`` most relevant to the task, by BM25, within ``[memory] budget_bytes`` and
``max_items``; the run cites their ids in its trace) and call :func:`learn_after` when the
run ends (one model call through ``memfun_optimizer.memory.extract_learnings``; the new
learnings are appended to the project's ``MEMORY.md``). With memory off, neither happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memfun_core.config import MemfunConfig
from memfun_core.errors import MemfunError

if TYPE_CHECKING:
    from memfun_agent import AgentResult

__all__ = ["learn_after", "learned_event", "memory_recall"]

#: Outcomes nothing is learnt from: the user stopped the run.
_NOT_LEARNT = frozenset({"interrupted", "cancelled"})


def memory_recall(config: MemfunConfig) -> Callable[[str], list[tuple[str, str]]] | None:
    """The agent's ``memories`` recall for this project, or ``None`` with memory off."""
    if not config.memory.enabled:
        return None
    budget, items = config.memory.budget_bytes, config.memory.max_items

    def recall(task: str) -> list[tuple[str, str]]:
        from memfun_optimizer.memory import MemoryStore

        with MemoryStore.for_config(config) as store:
            hits = store.recall(task, budget_bytes=budget, max_items=items)
        return [(hit.learning.id, hit.learning.text) for hit in hits]

    return recall


def learned_event(added: list[dict[str, str]], error: str | None = None) -> dict[str, Any]:
    """The progress event saying what a run taught (``kind: learned``)."""
    return {"kind": "learned", "learnings": added, "error": error}


async def learn_after(
    config: MemfunConfig, task: str, result: AgentResult
) -> dict[str, Any] | None:
    """Extract and store the learnings of a finished run; return the ``learned`` event.

    ``None`` when memory or learning is off, or the user stopped the run. A failed
    extraction does not fail the run: the event carries the error, which is shown.
    """
    memory = config.memory
    if not (memory.enabled and memory.learn) or result.outcome in _NOT_LEARNT:
        return None
    from memfun_agent import build_lm
    from memfun_optimizer.memory import MemoryStore, extract_learnings

    steps = [
        {"reasoning": s.reasoning, "code": s.code, "output": s.output, "error": s.error or ""}
        for s in result.steps
    ]

    def learn() -> list[dict[str, str]]:
        with MemoryStore.for_config(config) as store:
            added = extract_learnings(
                store,
                build_lm(config.llm),
                task=task,
                outcome=result.outcome,
                answer=result.answer,
                summary=result.summary,
                steps=steps,
            )
        return [{"id": a.id, "kind": a.kind, "text": a.text} for a in added]

    try:
        return learned_event(await asyncio.to_thread(learn))
    except MemfunError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return learned_event([], f"{error.message}{hint}")
