"""The interpreter the agent gives ``dspy.RLM``: the sandbox, plus budgets, traces and checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from dspy.primitives.code_interpreter import (  # pyright: ignore[reportMissingTypeStubs]
    CodeExecutionError,
    CodeInterpreterError,
    FinalOutput,
)

from memfun_agent._run import RunState, RunStopped, Step
from memfun_agent._verify import Verifier
from memfun_agent.interpreter import SandboxInterpreter
from memfun_agent.tools import ToolBridge, ToolFailed
from memfun_agent.tools._changes import ChangeTracker

__all__ = ["AgentInterpreter", "agent_interpreter_factory"]

_LLM_TOOLS = ("llm_query", "llm_query_batched")
_LIMIT_TEXT = "LLM call limit exceeded"


class AgentInterpreter:
    """A DSPy ``CodeInterpreter`` over :class:`SandboxInterpreter`, with the agent's duties.

    It also:

    * routes Memfun tools through the :class:`ToolBridge` (positional arguments,
      permissions, timeouts, clear errors);
    * counts ``llm_query`` calls and stops the run when a budget is used up;
    * bounds each step by the remaining wall-clock budget;
    * records every step in the trace;
    * runs the project's checks when the model submits after changing files, and turns a
      failure into feedback (the model keeps its REPL state and fixes it), at most
      ``max_rejections`` times.
    """

    def __init__(
        self,
        inner: SandboxInterpreter,
        state: RunState,
        bridge: ToolBridge,
        *,
        changes: ChangeTracker | None,
        verifier: Verifier | None,
        max_rejections: int = 2,
        step_timeout: float | None = None,
    ) -> None:
        self._inner = inner
        self._state = state
        self._bridge = bridge
        self._changes = changes
        self._verifier = verifier
        self._max_rejections = max_rejections
        self._step_timeout = step_timeout
        self._rejections = 0
        self.tools: dict[str, Callable[..., Any]] = {}
        self.verifications: list[dict[str, Any]] = []

    @property
    def output_fields(self) -> list[dict[str, Any]] | None:
        """DSPy's output fields (forwarded to the sandbox for ``SUBMIT``)."""
        return self._inner.output_fields

    @output_fields.setter
    def output_fields(self, value: list[dict[str, Any]] | None) -> None:
        self._inner.output_fields = value

    def start(self) -> None:
        """Open the sandboxed REPL."""
        self._inner.start()

    def shutdown(self) -> None:
        """Close the sandboxed REPL."""
        self._inner.shutdown()

    # --- tools -----------------------------------------------------------------------------

    def _llm_tool(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        state = self._state

        def call(*args: Any, **kwargs: Any) -> Any:
            reason = state.meter.exhausted()
            if reason is not None:
                raise ToolFailed(f"{name} refused: the run's {reason} budget is used up")
            try:
                return func(*args, **kwargs)
            except RuntimeError as exc:
                if _LIMIT_TEXT in str(exc):
                    state.meter.trip("max_llm_calls")
                raise

        return call

    def _install_tools(self) -> None:
        bridged = self._bridge.callables()
        tools: dict[str, Callable[..., Any]] = {}
        for name, func in self.tools.items():
            if name in bridged:
                tools[name] = bridged[name]
            elif name in _LLM_TOOLS:
                tools[name] = self._llm_tool(name, func)
            else:
                tools[name] = func
        self._inner.tools.clear()
        self._inner.tools.update(tools)

    # --- steps -----------------------------------------------------------------------------

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run one step; see DSPy's ``CodeInterpreter.execute``."""
        self._install_tools()
        if not self._state.started:
            return self._inner.execute(code, variables)  # DSPy's own setup code
        remaining = self._state.meter.remaining_wall()
        if remaining == 0.0 or self._state.meter.exhausted() == "cancelled":
            self._state.check("before a REPL step")
        timeouts = [t for t in (self._step_timeout, remaining) if t is not None]
        self._inner.step_timeout = max(1.0, min(timeouts)) if timeouts else None
        step = self._state.new_step(code)
        started = time.monotonic()
        try:
            result = self._run(step, code, variables)
        finally:
            self._state.end_step(step, started)
            if not step.final:  # also after a failed step: its budget use counts too
                self._state.check("after a REPL step")
        return result

    def _run(self, step: Step, code: str, variables: dict[str, Any] | None) -> Any:
        try:
            result = self._inner.execute(code, variables)
        except (CodeExecutionError, SyntaxError) as exc:
            step.error = f"{type(exc).__name__}: {exc}"
            guidance = self._state.on_step_error(step.error)  # RunStopped when stuck
            if guidance is None:
                raise
            raise CodeExecutionError(f"{exc}\n\n{guidance}") from exc
        except CodeInterpreterError as exc:
            step.error = f"sandbox: {exc}"
            if self._state.meter.exhausted() == "max_wall_time":
                raise RunStopped(
                    "max_wall_time", f"the run's wall-clock budget ran out during a step: {exc}"
                ) from exc
            raise
        if isinstance(result, FinalOutput):
            return self._on_submit(step, result)
        step.output = "" if result is None else str(result)
        guidance = self._state.on_step_output(code, step.output)  # RunStopped when stuck
        if guidance is None:
            return result
        return f"{step.output}\n\n{guidance}" if step.output else guidance

    def _on_submit(self, step: Step, result: FinalOutput) -> Any:
        changed = self._changes is not None and bool(self._changes.changed_files())
        if self._verifier is None or not changed or not self._verifier.checks:
            step.final = True
            step.output = f"SUBMIT {result.output!r}"
            return result
        remaining = self._state.meter.remaining_wall()
        verification = asyncio.run(self._verifier.run(timeout=remaining))
        summary = verification.to_json()
        self.verifications.append(summary)
        self._state.recorder.add("verification", **summary)
        if verification.passed or self._rejections >= self._max_rejections:
            step.final = True
            step.output = f"SUBMIT {result.output!r} ({verification.feedback().splitlines()[0]})"
            return result
        self._rejections += 1
        step.output = (
            "SUBMIT was not accepted: the project's checks fail after your changes. "
            "Fix the problem (your REPL state is intact), then SUBMIT again.\n\n"
            + verification.feedback()
        )
        return step.output


class _Factory:
    def __init__(self, make: Callable[[], AgentInterpreter], instructions: str) -> None:
        self._make = make
        self.execution_instructions = instructions

    def __call__(self) -> AgentInterpreter:
        return self._make()


def agent_interpreter_factory(
    make: Callable[[], AgentInterpreter], instructions: str
) -> Callable[[], AgentInterpreter]:
    """A zero-argument factory for ``dspy.RLM`` carrying the sandbox's instructions."""
    return _Factory(make, instructions)
