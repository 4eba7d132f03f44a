"""Persistent memory around a run (``[memory] enabled``): recall before, learn after.

The task commands and chat turns build the agent with :func:`memory_recall` (the learnings
of ``MEMORY.md`` most relevant to the task, by BM25, within ``[memory] budget_bytes`` and
``max_items``; the run cites their ids in its trace) and call :func:`learn_after` when the
run ends (one model call through ``memfun_optimizer.memory.extract_learnings``; the new
learnings are appended to the project's ``MEMORY.md``). With memory off, neither happens.
Agent runs (``DefinedAgent``: ``memfun agent run``, chat's ``@name``, MCP agent tools,
orchestrated nodes, agent workers) get both through :func:`with_memory`, which lays the same
two onto their :class:`~memfun_agent.dispatch.AgentSetup`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memfun_core.config import MemfunConfig
from memfun_core.errors import MemfunError

if TYPE_CHECKING:
    from memfun_agent import AgentResult
    from memfun_agent.dispatch import AgentSetup

__all__ = ["learn_after", "learned_event", "memory_recall", "with_memory"]

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


def with_memory(
    config: MemfunConfig,
    setup: AgentSetup,
    listener: Callable[[dict[str, Any]], None] | None = None,
) -> AgentSetup:
    """``setup`` whose agent runs recall memories and learn after, as ask/fix runs do.

    Each run gets :func:`memory_recall` (its ``memories`` input, cited in its trace) and,
    when it ends, :func:`learn_after`; the ``learned`` event goes to ``listener``. With
    memory off, ``setup`` is returned unchanged.
    """
    recall = memory_recall(config)
    if recall is None:
        return setup
    earlier = setup.after_run

    async def after(task: str, result: AgentResult) -> None:
        if earlier is not None:
            await earlier(task, result)
        event = await learn_after(config, task, result)
        if event is not None and listener is not None:
            listener(event)

    options = {**setup.agent_options, "memories": recall}
    return dataclasses.replace(setup, agent_options=options, after_run=after)
