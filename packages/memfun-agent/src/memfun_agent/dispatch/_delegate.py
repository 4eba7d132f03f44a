"""The ``delegate`` tool: a running agent hands a sub-task to another agent from its REPL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from memfun_agent.dispatch._dispatch import dispatch
from memfun_agent.dispatch._records import AgentTaskResult, DispatchParent
from memfun_agent.tools import ToolFailed, ToolSpec
from memfun_runtime.protocols import JSONValue

if TYPE_CHECKING:
    from memfun_agent._run import RunState
    from memfun_agent.tools import Handler
    from memfun_runtime.protocols import AgentHost

__all__ = ["CAPABILITY_TOOL", "DELEGATE_TOOL", "Children", "delegate_tools"]

DELEGATE_TOOL = "delegate"
"""The REPL tool that delegates to an agent by name."""
CAPABILITY_TOOL = "delegate_by_capability"
"""The REPL tool that delegates to a live agent having a capability."""


@dataclass(slots=True)
class Children:
    """The child dispatches of one run still waiting (cancelled when the run is)."""

    futures: set[concurrent.futures.Future[AgentTaskResult]] = field(
        default_factory=set[concurrent.futures.Future[AgentTaskResult]]
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancelled: bool = False

    def add(self, future: concurrent.futures.Future[AgentTaskResult]) -> None:
        """Track one child; cancel it at once when the run is already cancelled."""
        with self.lock:
            self.futures.add(future)
            cancelled = self.cancelled
        if cancelled:
            future.cancel()

    def discard(self, future: concurrent.futures.Future[AgentTaskResult]) -> None:
        """Forget a finished child."""
        with self.lock:
            self.futures.discard(future)

    def cancel_all(self) -> None:
        """Cancel every waiting child (each is asked to stop its run) and any later one."""
        with self.lock:
            self.cancelled = True
            pending = list(self.futures)
        for future in pending:
            future.cancel()


def _context(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"context": raw}
    if isinstance(raw, dict):
        items = cast("dict[object, object]", raw).items()
        return {str(key): value if isinstance(value, str) else str(value) for key, value in items}
    raise ToolFailed("context must be a string or a dict of name -> text")


def _reply(result: AgentTaskResult) -> dict[str, JSONValue]:
    return {
        "agent": result.agent,
        "outcome": result.outcome,
        "ok": result.ok,
        "answer": result.answer,
        "summary": result.summary,
        "changed_files": list(result.changed_files),
        "run_id": result.run_id,
        "cost_usd": result.cost_usd,
        "tokens": result.tokens,
        "error": result.error,
    }


def delegate_tools(
    *,
    runtime: AgentHost,
    home: asyncio.AbstractEventLoop,
    parent: Callable[[], DispatchParent],
    state: Callable[[], RunState | None],
    children: Children,
    timeout: float | None,
    allowed: tuple[str, ...],
) -> list[tuple[ToolSpec, Handler]]:
    """A run's ``delegate`` and ``delegate_by_capability`` tools (task, context=None).

    The child is dispatched on ``home`` (the loop the runtime's clients live on) and the
    tool waits for its result. The child's tokens and cost are added to the parent's
    budget meter (a parent over budget stops after the step) and a ``delegation`` record
    with the child's run id goes into the parent's trace.

    Args:
        runtime: The runtime the agents share.
        home: The runtime's event loop.
        parent: The delegating run as a :class:`DispatchParent` (read at call time).
        state: The parent's live run state (meter and trace), read at call time.
        children: Where waiting children are tracked for cancellation.
        timeout: Seconds to wait for a child (``None``: the parent's own limits).
        allowed: The agent names the parent may delegate to (for the description).
    """

    async def run(arguments: dict[str, Any], *, by: str) -> JSONValue:
        target = arguments.get(by)
        task = arguments.get("task")
        if not isinstance(target, str) or not target.strip():
            raise ToolFailed(f"delegation needs the {by} as a string")
        if not isinstance(task, str) or not task.strip():
            raise ToolFailed("delegation needs a task string: delegate('reviewer', 'review x.py')")
        context = _context(arguments.get("context"))
        future = asyncio.run_coroutine_threadsafe(
            dispatch(
                runtime,
                task,
                agent=target if by == "agent" else None,
                capability=target if by == "capability" else None,
                context=context,
                parent=parent(),
                timeout=timeout,
            ),
            home,
        )
        children.add(future)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise ToolFailed("the delegation was cancelled (the parent run is stopping)") from None
        finally:
            children.discard(future)
        _account(state(), task, result)
        if result.outcome == "refused":
            raise ToolFailed(f"delegation refused: {result.error}")
        return _reply(result)

    targets = ", ".join(allowed) if allowed and "*" not in allowed else "any defined agent"
    common = (
        f"Allowed agents: {targets}. Returns outcome, answer, summary, changed_files, run_id; "
        "the child's cost counts in your budget."
    )
    wait = (timeout if timeout is not None else 86_400.0) + 60.0

    def tool(name: str, by: str, description: str) -> tuple[ToolSpec, Handler]:
        """The tool ``name(<by>, task, context=None)``."""

        async def handler(arguments: dict[str, Any]) -> JSONValue:
            return await run(arguments, by=by)

        properties: dict[str, JSONValue] = {
            by: {"type": "string"},
            "task": {"type": "string"},
            "context": {"type": ["string", "object", "null"], "default": None},
        }
        schema: dict[str, JSONValue] = {
            "type": "object",
            "properties": properties,
            "required": [by, "task"],
        }
        spec = ToolSpec(
            name=name,
            description=f"{description}: {name}({by}, task, context=None). {common}",
            input_schema=schema,
            source="agent",
            timeout=wait,
        )
        return spec, handler

    return [
        tool(
            DELEGATE_TOOL,
            "agent",
            "Give a sub-task to another agent by name and wait for its result",
        ),
        tool(
            CAPABILITY_TOOL,
            "capability",
            "Give a sub-task to a live agent having a capability and wait for its result",
        ),
    ]


def _account(run: RunState | None, task: str, result: AgentTaskResult) -> None:
    """Record the child in the parent's trace and add its spending to the parent's meter."""
    if run is None:
        return
    run.recorder.add(
        "delegation",
        agent=result.agent,
        task=task[:500],
        task_id=result.task_id,
        child_run_id=result.run_id,
        outcome=result.outcome,
        cost_usd=result.cost_usd,
        tokens=result.tokens,
        worker=result.worker,
        error=result.error,
    )
    if result.tokens or result.cost_usd:
        run.meter.record_call(
            sub=True,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost=result.cost_usd,
        )
