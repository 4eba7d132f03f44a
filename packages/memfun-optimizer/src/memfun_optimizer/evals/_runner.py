"""Running a suite: each task in a scratch copy, one traced run per attempt, then judged."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from memfun_optimizer._taxonomy import FailureKind, failure_of_outcome
from memfun_optimizer.evals._check import CheckContext, judge
from memfun_optimizer.evals._suite import EvalSuite, EvalTask
from memfun_runtime.protocols import JSONValue, SandboxAdapter

if TYPE_CHECKING:
    from memfun_agent import AgentResult, TraceStore

__all__ = [
    "Attempt",
    "AttemptRunner",
    "EvalReport",
    "EvalResult",
    "agent_attempts",
    "run_suite",
]

_SKIP = shutil.ignore_patterns(".git", ".memfun", ".venv", "__pycache__", "node_modules")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one agent run on a task produced (from any kind of agent).

    Attributes:
        run_id: The run's id, the key of its stored trace (``None``: no run started).
        outcome: ``completed`` or why it stopped.
        answer: The agent's answer.
        diff: Its edits as a unified diff.
        changed_files: The files it changed.
        cost_usd: Dollars spent.
        tokens: Tokens spent.
        steps: REPL steps taken.
        error: Why it stopped, when it did not complete.
    """

    run_id: str | None
    outcome: str
    answer: str = ""
    diff: str = ""
    changed_files: tuple[str, ...] = ()
    cost_usd: float = 0.0
    tokens: int = 0
    steps: int = 0
    error: str | None = None


AttemptRunner = Callable[[EvalTask, Path, Mapping[str, JSONValue]], Awaitable[Attempt]]
"""Runs the agent on ``task`` in the scratch folder with the given trace metadata."""


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One attempt at one task, judged.

    Attributes:
        task_id: The task.
        kind: The task's kind.
        attempt: 1-based repeat number.
        solved: Whether the checker accepted the result.
        failure: Why not (see :data:`~memfun_optimizer.FAILURE_KINDS`).
        detail: The checker's or the run's explanation.
        run_id: The run's trace id.
        outcome: The run's stop reason.
        cost_usd: Dollars spent.
        tokens: Tokens spent.
        steps: REPL steps.
        wall_seconds: Time from copying the fixture to the verdict.
        answer: The agent's answer (cut to 2,000 characters), also when the run did not
            complete: a run that ends ``stuck`` still gives the answer extracted from its steps.
        passed_check: Whether the task's check accepts what the run left (its answer and
            edits), judged also for a run that stopped early; ``None`` when such a run left
            nothing to judge. ``solved`` needs a completed run as well.
    """

    task_id: str
    kind: str
    attempt: int
    solved: bool
    failure: FailureKind | None
    detail: str
    run_id: str | None
    outcome: str
    cost_usd: float
    tokens: int
    steps: int
    wall_seconds: float
    answer: str = ""
    passed_check: bool | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """The result as the ``--json`` output shows it."""
        return dict(dataclasses.asdict(self))


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Every judged attempt of a suite run."""

    suite: str
    results: tuple[EvalResult, ...]

    @property
    def solved(self) -> int:
        """How many attempts were solved."""
        return sum(1 for r in self.results if r.solved)

    @property
    def passed_late(self) -> int:
        """Attempts that stopped early yet left a result the check accepts (not solved)."""
        return sum(1 for r in self.results if r.passed_check and not r.solved)

    @property
    def score(self) -> float:
        """The share of attempts solved (0.0 for an empty report): the optimizers' metric."""
        return self.solved / len(self.results) if self.results else 0.0

    def to_json(self) -> dict[str, JSONValue]:
        """The ``memfun eval run --json`` object."""
        return {
            "suite": self.suite,
            "attempts": len(self.results),
            "solved": self.solved,
            "passed_late": self.passed_late,
            "score": round(self.score, 6),
            "cost_usd": sum(r.cost_usd for r in self.results),
            "tokens": sum(r.tokens for r in self.results),
            "results": [r.to_json() for r in self.results],
        }


class _Agent(Protocol):
    async def run(
        self, task: str, *, metadata: Mapping[str, JSONValue] | None = None
    ) -> AgentResult: ...

    def close(self) -> None: ...


def agent_attempts(make_agent: Callable[[EvalTask, Path], Any]) -> AttemptRunner:
    """An :data:`AttemptRunner` over :class:`~memfun_agent.RLMAgent`.

    Args:
        make_agent: Builds an agent working in the scratch folder (with a trace store, so
            the run is recorded); it is closed after the run.
    """

    async def attempt(task: EvalTask, workspace: Path, meta: Mapping[str, JSONValue]) -> Attempt:
        agent: _Agent = make_agent(task, workspace)
        try:
            result = await agent.run(task.task, metadata=meta)
        finally:
            agent.close()
        return Attempt(
            run_id=result.run_id,
            outcome=result.outcome,
            answer=result.answer,
            diff=result.diff,
            changed_files=result.changed_files,
            cost_usd=result.usage.cost_usd,
            tokens=result.usage.tokens,
            steps=result.usage.iterations,
            error=result.error,
        )

    return attempt


async def _record_verdict(
    traces: TraceStore | None, run_id: str | None, verdict: Mapping[str, JSONValue]
) -> None:
    if traces is None or run_id is None:
        return
    trace = await traces.load(run_id)
    if trace is None:
        return
    metadata = {**trace.metadata, "eval": dict(verdict)}
    await traces.save(dataclasses.replace(trace, metadata=metadata))


async def run_suite(
    suite: EvalSuite,
    attempt: AttemptRunner,
    *,
    sandbox: SandboxAdapter,
    repeat: int = 1,
    traces: TraceStore | None = None,
    on_result: Callable[[EvalResult], None] | None = None,
) -> EvalReport:
    """Run every task ``repeat`` times, each in a fresh scratch copy, and judge each run.

    The run's trace carries ``eval_suite``, ``eval_task``, ``task_kind`` and ``attempt`` in
    its metadata; with ``traces``, the verdict is added to the stored trace as
    ``metadata["eval"]`` (``solved``, ``failure``, ``detail``) for ``memfun trace stats``.

    Args:
        suite: The suite.
        attempt: Runs the agent (:func:`agent_attempts` for an ``RLMAgent``).
        sandbox: Where check commands run.
        repeat: Attempts per task.
        traces: The store the agent writes its traces to.
        on_result: Called with each result as soon as it is judged.
    """
    results: list[EvalResult] = []
    for task in suite.tasks:
        for number in range(1, repeat + 1):
            result = await _one(
                suite, task, number=number, attempt=attempt, sandbox=sandbox, traces=traces
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return EvalReport(suite.name, tuple(results))


async def _one(
    suite: EvalSuite,
    task: EvalTask,
    *,
    number: int,
    attempt: AttemptRunner,
    sandbox: SandboxAdapter,
    traces: TraceStore | None,
) -> EvalResult:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"memfun-eval-{task.id}-") as scratch:
        workspace = Path(scratch) / task.source.name
        shutil.copytree(task.source, workspace, symlinks=True, ignore=_SKIP)
        meta: dict[str, JSONValue] = {
            "eval_suite": suite.name,
            "eval_task": task.id,
            "task_kind": task.kind,
            "attempt": number,
        }
        done = await attempt(task, workspace, meta)
        failure = failure_of_outcome(done.outcome)
        detail = done.error or ""
        passed: bool | None = None
        if failure is None or done.answer.strip() or done.changed_files:
            # A run that stopped early is judged too: what it left may still be right.
            context = CheckContext(task, workspace, done.answer, done.diff, done.changed_files)
            verdict = await judge(context, suite_dir=suite.path.parent, sandbox=sandbox)
            passed = verdict.failure is None
            if failure is None:
                failure, detail = verdict.failure, verdict.detail
            elif passed:
                detail = f"{detail}; what it left passes the check".lstrip("; ")
    solved = failure is None
    await _record_verdict(
        traces,
        done.run_id,
        {"solved": solved, "failure": failure, "detail": detail[:2_000], "passed_check": passed},
    )
    return EvalResult(
        task_id=task.id,
        kind=task.kind,
        attempt=number,
        solved=solved,
        failure=failure,
        detail=detail,
        run_id=done.run_id,
        outcome=done.outcome,
        cost_usd=done.cost_usd,
        tokens=done.tokens,
        steps=done.steps,
        wall_seconds=round(time.monotonic() - started, 3),
        answer=done.answer[:2_000],
        passed_check=passed,
    )
