"""What a run returns: its outcome, and the :class:`AgentResult` with its trace."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from memfun_agent._budget import StopReason, Usage
from memfun_agent._interp import AgentInterpreter
from memfun_agent._run import RunState, Step
from memfun_agent.tools import ChangeTracker
from memfun_agent.traces import RunTrace
from memfun_runtime.protocols import JSONValue

__all__ = ["AgentResult", "RunOutcome", "agent_result", "outcome_of"]

_EXTRACTED = "Extract forced final output"


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced, complete or partial.

    Attributes:
        run_id: The run's id (its trace's key).
        outcome: ``completed`` or why the run stopped early.
        answer: The model's answer ("" when it stopped before submitting).
        summary: What was changed and why; for a stopped run, why it stopped.
        diff: Unified diff of every file changed through the file tools.
        changed_files: Paths of those files.
        usage: Iterations, model calls, tokens, cost and wall time.
        steps: Every REPL step (reasoning, code, output, error).
        verification: The last verification (``{"passed", "checks"}``), if checks ran.
        error: Details when the run did not complete.
        trace: The run's trace.
    """

    run_id: str
    outcome: StopReason | Literal["internal_error"]
    answer: str
    summary: str
    diff: str
    changed_files: tuple[str, ...]
    usage: Usage
    steps: tuple[Step, ...]
    verification: Mapping[str, Any] | None
    error: str | None
    trace: RunTrace

    @property
    def completed(self) -> bool:
        """Whether the model submitted its result."""
        return self.outcome == "completed"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How the RLM loop ended: why, the prediction it returned (if any) and details."""

    reason: StopReason | Literal["internal_error"]
    prediction: Any = None
    error: str | None = None


def outcome_of(prediction: Any, state: RunState) -> RunOutcome:
    """How a run that returned a prediction ended."""
    if getattr(prediction, "final_reasoning", "") != _EXTRACTED:
        return RunOutcome("completed", prediction)
    # Outputs extracted from the trajectory: after max_iterations, or after stuck.
    if state.stuck is None:
        return RunOutcome("max_iterations", prediction)
    return RunOutcome("stuck", prediction, error=state.stuck)


def agent_result(  # noqa: PLR0917
    task: str,
    state: RunState,
    changes: ChangeTracker,
    outcome: RunOutcome,
    interpreters: list[AgentInterpreter],
    metadata: Mapping[str, JSONValue],
    *,
    workspace: Path,
    lm: Any,
    sub_lm: Any,
) -> AgentResult:
    """Finish the run's trace (``run_end``) and gather its result.

    Args:
        task: The task.
        state: The run's meter, recorder and steps.
        changes: The files the run changed.
        outcome: How the loop ended.
        interpreters: The run's REPLs (their verifications).
        metadata: Stored in the trace.
        workspace: The repository folder.
        lm: The main model (its name goes in the trace).
        sub_lm: The ``llm_query`` model, if another one.
    """
    recorder = state.recorder
    usage = state.meter.usage
    diff = changes.diff()
    changed = tuple(changes.changed_files())
    verifications = [v for i in interpreters for v in i.verifications]
    verification = verifications[-1] if verifications else None
    prediction = outcome.prediction
    answer = str(getattr(prediction, "answer", "") or "") if prediction is not None else ""
    if prediction is not None:
        summary = str(getattr(prediction, "summary", "") or "")
    else:
        last = state.steps[-1].output if state.steps else ""
        summary = f"Stopped early ({outcome.reason}): {outcome.error}. Last output: {last[-500:]}"
    recorder.add(
        "run_end",
        outcome=outcome.reason,
        error=outcome.error,
        changed_files=list(changed),
        diff=diff,
    )
    usage_json: dict[str, JSONValue] = {
        **dataclasses.asdict(usage),
        "tokens": usage.tokens,
    }
    trace = RunTrace(
        run_id=recorder.run_id,
        task=str(recorder.clean(task)),
        model=str(getattr(lm, "model", type(lm).__name__)),
        sub_model=str(getattr(sub_lm or lm, "model", "")),
        started_at=recorder.started_at,
        ended_at=time.time(),
        outcome=outcome.reason,
        error=None if outcome.error is None else str(recorder.clean(outcome.error)),
        usage=usage_json,
        records=tuple(recorder.records),
        metadata={
            "workspace": str(workspace),
            "changed_files": list(changed),
            "verification": recorder.clean(verification),
            **metadata,
        },
    )
    return AgentResult(
        run_id=recorder.run_id,
        outcome=outcome.reason,
        answer=answer,
        summary=summary,
        diff=diff,
        changed_files=changed,
        usage=usage,
        steps=tuple(state.steps),
        verification=verification,
        error=outcome.error,
        trace=trace,
    )
