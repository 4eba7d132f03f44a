"""``dispatch``: hand a task to an agent through the runtime's TaskQueue and wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from memfun_agent.dispatch._records import (
    AgentTaskResult,
    DispatchParent,
    TaskPayload,
    cancel_key,
    failed,
    queue_of,
)
from memfun_core.errors import ValidationError
from memfun_runtime.protocols import JSONValue, TaskStatus

if TYPE_CHECKING:
    from memfun_runtime.protocols import AgentHost

__all__ = ["DEFINED_AGENT_KIND", "dispatch", "find_agent", "request_cancel"]

DEFINED_AGENT_KIND = "memfun.defined-agent"
"""The ``kind`` in the registry metadata of every running :class:`DefinedAgent`."""
CANCEL_TTL = 86_400.0
"""Seconds a cancellation request is kept."""
DEFAULT_CANCEL_GRACE = 10.0
"""Seconds a timed-out dispatch waits for the cancelled child to report its partial result."""
_POLL_FIRST = 0.05
_POLL_MAX = 0.5


async def find_agent(
    runtime: AgentHost, capability: str, parent: DispatchParent | None = None
) -> tuple[str | None, str]:
    """Pick a live defined agent having ``capability`` (that ``parent`` may delegate to).

    Returns:
        ``(name, "")``, or ``(None, why)`` when no live agent fits.
    """
    instances = await runtime.agents.find(capability)
    counts: dict[str, int] = {}
    for instance in instances:
        if instance.metadata.get("kind") == DEFINED_AGENT_KIND:
            counts[instance.name] = counts.get(instance.name, 0) + 1
    if not counts:
        return None, (
            f"no live agent has the capability {capability!r}; start one "
            "(`memfun runtime worker --agents DIR`) or address an agent by name"
        )
    reasons: list[str] = []
    for name in sorted(counts, key=lambda n: (-counts[n], n)):
        why = parent.refusal(name) if parent is not None else None
        if why is None:
            return name, ""
        reasons.append(why)
    return None, f"no agent with the capability {capability!r} may take it: {reasons[0]}"


async def request_cancel(runtime: AgentHost, task_id: str, reason: str, detail: str) -> None:
    """Ask the agent holding ``task_id`` (or the next to lease it) to stop it.

    The agent stops its run (outcome ``cancelled``) and records ``reason`` and ``detail``
    in its trace; a task not started yet completes as ``cancelled`` without running.
    """
    value: dict[str, JSONValue] = {"reason": reason, "detail": detail, "at": time.time()}
    await runtime.state.set(cancel_key(task_id), value, ttl=CANCEL_TTL)


async def _outcome(
    runtime: AgentHost, queue: str, task_id: str, agent: str
) -> AgentTaskResult | None:
    task = await runtime.tasks.get(queue, task_id)
    if task is None:
        return failed(task_id, agent, "internal_error", "the task is no longer known to the queue")
    if task.status is TaskStatus.COMPLETED:
        return AgentTaskResult.from_json(task.result, task_id=task_id, agent=agent)
    if task.status is TaskStatus.DEAD:
        return failed(
            task_id,
            agent,
            "internal_error",
            f"the task failed {task.attempts} times: {task.last_error}",
        )
    return None


async def _wait(runtime: AgentHost, queue: str, task_id: str, agent: str) -> AgentTaskResult:
    pause = _POLL_FIRST
    while True:
        result = await _outcome(runtime, queue, task_id, agent)
        if result is not None:
            return result
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, _POLL_MAX)


async def dispatch(
    runtime: AgentHost,
    task: str,
    *,
    agent: str | None = None,
    capability: str | None = None,
    context: Mapping[str, str] | None = None,
    parent: DispatchParent | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the public API names it timeout
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    task_id: str | None = None,
) -> AgentTaskResult:
    """Give ``task`` to an agent (by name, or by capability) and wait for its result.

    The task goes to the agent's queue on the runtime's TaskQueue (``agents.<name>``), where
    a :class:`DefinedAgent` of that name leases it, in this process or in any worker on the
    same tier. A task whose worker dies is leased again by another (visibility timeout).

    Cancellation reaches the child: when ``timeout`` passes, the child is asked to stop and
    the result (``outcome="timeout"``) carries what it reported within ``cancel_grace``
    seconds; when the waiting coroutine is cancelled, the child is asked to stop too.

    Args:
        runtime: A started runtime.
        task: What to do.
        agent: The agent's name.
        capability: A capability to resolve through the agent registry (when no ``agent``).
        context: More REPL variables for the child (name -> text).
        parent: The delegating run (depth limit, cycle refusal, ``delegates``, trace link).
        timeout: Seconds to wait for the result (``None``: no limit).
        cancel_grace: Seconds a timed-out dispatch waits for the child's partial result.
        task_id: The task's id (default: a new one); re-dispatching an id waits for the
            same task.

    Returns:
        The result; ``outcome`` is ``refused`` when the task was not enqueued (cycle, depth,
        permission or no agent for the capability).

    Raises:
        ValidationError: Neither ``agent`` nor ``capability``, a bad name, or a bad context.
    """
    if agent is None and capability is None:
        raise ValidationError(
            "dispatch needs an agent name or a capability",
            field="agent",
            rule="agent='NAME' or capability='CAPABILITY'",
        )
    tid = task_id or uuid.uuid4().hex
    name = agent
    if name is None:
        assert capability is not None
        name, why = await find_agent(runtime, capability, parent)
        if name is None:
            return failed(tid, f"capability:{capability}", "refused", why)
    queue = queue_of(name)
    if parent is not None:
        why = parent.refusal(name)
        if why is not None:
            return failed(tid, name, "refused", why)
    extra = dict(context or {})
    bad = [key for key in extra if not key.isidentifier()]
    if bad:
        raise ValidationError(
            f"invalid context entries {bad!r}",
            field="context",
            rule="identifier names",
        )
    payload = TaskPayload(
        task=task,
        agent=name,
        context=extra,
        parent_run_id=parent.run_id if parent else None,
        parent_agent=parent.agent if parent else None,
        depth=parent.depth + 1 if parent else 0,
        chain=parent.path() if parent else (),
    )
    await runtime.tasks.enqueue(queue, payload.to_json(), task_id=tid)
    try:
        async with asyncio.timeout(timeout):
            return await _wait(runtime, queue, tid, name)
    except TimeoutError:
        detail = f"the parent waited {timeout:g} s for a result"
        await request_cancel(runtime, tid, "timeout", detail)
        late: AgentTaskResult | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(cancel_grace):
                late = await _wait(runtime, queue, tid, name)
        message = f"timeout: {detail}; the child was cancelled"
        if late is None:
            return failed(tid, name, "timeout", message + " (it did not report back)")
        return AgentTaskResult(
            task_id=tid,
            agent=name,
            run_id=late.run_id,
            outcome="timeout",
            answer=late.answer,
            summary=late.summary,
            diff=late.diff,
            changed_files=late.changed_files,
            cost_usd=late.cost_usd,
            tokens=late.tokens,
            error=message,
            worker=late.worker,
            usage=late.usage,
        )
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(
                request_cancel(runtime, tid, "cancelled", "the parent stopped waiting")
            )
        raise
