"""The agent's program as DSPy optimizers see it, and how a candidate is run on a task.

DSPy's optimizers rewrite the instructions and demos of a module's predictors. The agent's
own program (``dspy.RLM`` over Memfun's coding signature) is built per run, with that run's
tools; so the optimizers work on :class:`AgentModule`, whose one predictor ``agent`` holds
the coding signature's instructions and demos, and whose ``forward`` runs the real agent
(sandbox, tools, model) with them on an eval task and judges the result. What is compiled
is therefore exactly what :class:`~memfun_agent.RLMAgent` runs with
(:class:`~memfun_agent.AgentProgram`).
"""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportUntypedBaseClass=false, reportMissingTypeStubs=false

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from memfun_agent import AgentProgram
from memfun_optimizer.evals import Attempt, AttemptRunner, EvalSuite, EvalTask, run_suite
from memfun_runtime.protocols import JSONValue, SandboxAdapter

__all__ = ["AgentModule", "ProgramRunner", "TaskRun", "program_of", "suite_runner"]


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One judged run of a program on one eval task.

    Attributes:
        answer: The agent's answer.
        solved: The eval checker's verdict.
        failure: Why not (a failure kind), when not solved.
        detail: The checker's or the run's explanation.
    """

    answer: str
    solved: bool
    failure: str | None = None
    detail: str = ""


ProgramRunner = Callable[[str, AgentProgram], TaskRun]
"""Runs the agent with a program on the eval task with that id (blocking) and judges it."""


def suite_runner(
    suite: EvalSuite,
    attempts: Callable[[AgentProgram], AttemptRunner],
    *,
    sandbox: SandboxAdapter,
) -> ProgramRunner:
    """A :data:`ProgramRunner` over the eval runner: a scratch copy, one run, the checker.

    Args:
        suite: The suite whose tasks are run.
        attempts: An attempt runner for a program (e.g. ``agent_attempts`` over an
            ``RLMAgent(..., program=program)``).
        sandbox: Where check commands run.
    """

    def run(task_id: str, program: AgentProgram) -> TaskRun:
        answers: list[str] = []
        inner = attempts(program)

        async def attempt(
            task: EvalTask, workspace: Path, meta: Mapping[str, JSONValue]
        ) -> Attempt:
            done = await inner(task, workspace, meta)
            answers.append(done.answer)
            return done

        one = suite.select((task_id,))
        report = asyncio.run(run_suite(one, attempt, sandbox=sandbox))
        result = report.results[0]
        return TaskRun(answers[0] if answers else "", result.solved, result.failure, result.detail)

    return run


class _Runner:
    """Holds the runner; shared, not copied, by the optimizers' deep copies of the module."""

    def __init__(self, run: ProgramRunner, name: str) -> None:
        self.run = run
        self.name = name

    def __deepcopy__(self, memo: dict[int, Any]) -> _Runner:
        return self


def _signature(instructions: str) -> Any:
    make: Any = dspy.Signature
    return make(
        {
            "task": (str, dspy.InputField(desc="What the user asked for")),
            "answer": (str, dspy.OutputField(desc="The reply to the user")),
        },
        instructions,
    )


class AgentModule(dspy.Module):
    """A DSPy module whose predictor ``agent`` is the agent's instructions and demos.

    Args:
        run: Runs the agent with a program on an eval task and judges it.
        base: The program to start from (its name is kept).
    """

    def __init__(self, run: ProgramRunner, base: AgentProgram) -> None:
        super().__init__()
        self.agent = dspy.Predict(_signature(base.instructions))
        self.agent.demos = [dspy.Example(task=t, answer=a) for t, a in base.demos]
        self._runner = _Runner(run, base.name)

    def forward(self, task_id: str, task: str) -> Any:
        """Run the agent on the task with this module's instructions and demos, judged."""
        done = self._runner.run(task_id, program_of(self, self._runner.name))
        prediction = dspy.Prediction(
            answer=done.answer, solved=done.solved, failure=done.failure, detail=done.detail
        )
        trace = dspy.settings.trace
        if trace is not None:  # what dspy.Predict records, so GEPA can reflect on this call
            trace.append((self.agent, {"task": task}, prediction))
        return prediction


def program_of(module: AgentModule, name: str, version: str = "") -> AgentProgram:
    """The :class:`~memfun_agent.AgentProgram` a (compiled) module stands for."""
    demos: list[tuple[str, str]] = []
    for demo in module.agent.demos:
        task, answer = demo.get("task"), demo.get("answer")
        if isinstance(task, str) and isinstance(answer, str) and answer:
            demos.append((task, answer))
    predictor: Any = module.agent
    instructions = str(predictor.signature.instructions)
    return dataclasses.replace(AgentProgram(name, version, instructions), demos=tuple(demos[:16]))
