"""Compiling the agent's program with DSPy's MIPROv2 or GEPA, measured on held-out tasks."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportMissingTypeStubs=false

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dspy

from memfun_agent import AgentProgram, default_program
from memfun_core._extras import import_extra
from memfun_core.errors import ValidationError
from memfun_optimizer.evals import EvalSuite
from memfun_optimizer.optimize._data import (
    examples_from_suite,
    feedback_metric,
    score_metric,
    split_tasks,
)
from memfun_optimizer.optimize._module import AgentModule, ProgramRunner, program_of

__all__ = ["OPTIMIZERS", "OptimizeResult", "Optimizer", "optimize_program", "score_program"]

Optimizer = Literal["mipro", "gepa"]
OPTIMIZERS: tuple[Optimizer, ...] = ("mipro", "gepa")
_log = logging.getLogger("memfun.optimizer")


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    """A compiled program and how it did against the one it started from.

    Attributes:
        program: The compiled program (not stored yet: ``version`` is ``""``).
        optimizer: ``mipro`` or ``gepa``.
        suite: The eval suite's name.
        train: The tasks it was optimized on.
        held_out: The tasks it was measured on (never seen by the optimizer).
        baseline_score: The starting program's score on the held-out tasks.
        score: The compiled program's score on the held-out tasks.
        budget: MIPROv2 trials, or GEPA metric calls.
    """

    program: AgentProgram
    optimizer: Optimizer
    suite: str
    train: tuple[str, ...]
    held_out: tuple[str, ...]
    baseline_score: float
    score: float
    budget: int


def score_program(run: ProgramRunner, program: AgentProgram, task_ids: Sequence[str]) -> float:
    """The share of ``task_ids`` the agent solves with ``program`` (one run each)."""
    if not task_ids:
        return 0.0
    return sum(1 for task_id in task_ids if run(task_id, program).solved) / len(task_ids)


def _mipro(
    student: AgentModule, train: list[Any], *, budget: int, prompt_lm: Any, demos: int, seed: int
) -> Any:
    import_extra(
        "optuna", package="memfun-optimizer", extra="mipro", feature="MIPROv2 optimization"
    )
    optimizer = dspy.MIPROv2(
        metric=score_metric,
        prompt_model=prompt_lm,
        task_model=prompt_lm,
        auto=None,
        num_candidates=max(2, min(budget, 4)),
        max_bootstrapped_demos=0,
        max_labeled_demos=demos,
        num_threads=1,
        seed=seed,
        verbose=False,
        track_stats=False,
    )
    return optimizer.compile(
        student,
        trainset=train,
        valset=train,
        num_trials=budget,
        minibatch=False,
        max_bootstrapped_demos=0,
        max_labeled_demos=demos,
        seed=seed,
    )


def _gepa(
    student: AgentModule, train: list[Any], *, budget: int, reflection_lm: Any, seed: int
) -> Any:
    optimizer = dspy.GEPA(
        metric=feedback_metric,
        max_metric_calls=budget,
        reflection_lm=reflection_lm,
        reflection_minibatch_size=min(3, len(train)),
        use_merge=False,
        num_threads=1,
        track_stats=False,
        seed=seed,
    )
    return optimizer.compile(student, trainset=train, valset=train)


def optimize_program(
    suite: EvalSuite,
    run: ProgramRunner,
    *,
    optimizer: Optimizer,
    budget: int,
    prompt_lm: Any,
    reflection_lm: Any = None,
    base: AgentProgram | None = None,
    held_out: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    demos: int = 0,
    seed: int = 0,
) -> OptimizeResult:
    """Compile the agent's program on ``suite`` and measure it on held-out tasks.

    The optimizer sees only the training tasks; the starting and the compiled program are
    then each run once on every held-out task, with the eval checker as the judge.

    Args:
        suite: The eval suite (its checkers are the metric).
        run: Runs the agent with a program on a task (:func:`suite_runner`).
        optimizer: ``mipro`` (MIPROv2: proposed instructions, Bayesian search) or ``gepa``
            (GEPA: reflective evolution of the instructions from the checkers' feedback).
        budget: MIPROv2 trials, or GEPA metric calls.
        prompt_lm: The model that proposes instructions (MIPROv2).
        reflection_lm: The model that reflects on failures (GEPA; default ``prompt_lm``).
        base: The program to start from (default: Memfun's own instructions).
        held_out: Held-out task ids (default: a seeded third of the suite).
        labels: Answers of solved recorded runs by task id (:func:`labels_from_traces`),
            offered to MIPROv2 as demos.
        demos: Most demos MIPROv2 may add (0: instructions only).
        seed: Seeds the split and the optimizers.

    Raises:
        ValidationError: An unknown optimizer, a budget under 1, or too few tasks.
    """
    if optimizer not in OPTIMIZERS:
        raise ValidationError(
            f"unknown optimizer {optimizer!r}", field="optimizer", rule="mipro or gepa"
        )
    if budget < 1:
        raise ValidationError(f"budget {budget} is under 1", field="budget", rule=">= 1")
    base = base or default_program()
    train_ids, test_ids = split_tasks(suite, held_out=held_out, seed=seed)
    train = examples_from_suite(suite, train_ids, labels)
    student = AgentModule(run, base)
    _log.info("optimizing %s with %s on %d task(s)", base.name, optimizer, len(train))
    if optimizer == "mipro":
        compiled = _mipro(
            student, train, budget=budget, prompt_lm=prompt_lm, demos=demos, seed=seed
        )
    else:
        compiled = _gepa(
            student, train, budget=budget, reflection_lm=reflection_lm or prompt_lm, seed=seed
        )
    program = program_of(compiled, base.name)
    return OptimizeResult(
        program=program,
        optimizer=optimizer,
        suite=suite.name,
        train=train_ids,
        held_out=test_ids,
        baseline_score=score_program(run, base, test_ids),
        score=score_program(run, program, test_ids),
        budget=budget,
    )
