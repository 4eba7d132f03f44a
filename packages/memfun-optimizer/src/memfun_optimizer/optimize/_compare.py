"""Baseline against candidate on held-out tasks: the difference with a bootstrap interval."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from memfun_agent import AgentProgram
from memfun_core.errors import ValidationError
from memfun_optimizer.optimize._module import ProgramRunner

__all__ = ["Comparison", "bootstrap_interval", "compare_programs"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """How two programs did on the same tasks.

    Attributes:
        tasks: The task ids, in order.
        baseline: 1/0 per task run, for the baseline (``repeat`` runs per task, in order).
        candidate: The same for the candidate.
        difference: Candidate score minus baseline score.
        low: The interval's lower end.
        high: The interval's upper end.
        confidence: The interval's level (0.95).
    """

    tasks: tuple[str, ...]
    baseline: tuple[int, ...]
    candidate: tuple[int, ...]
    difference: float
    low: float
    high: float
    confidence: float

    @property
    def baseline_score(self) -> float:
        """The baseline's share solved."""
        return sum(self.baseline) / len(self.baseline)

    @property
    def candidate_score(self) -> float:
        """The candidate's share solved."""
        return sum(self.candidate) / len(self.candidate)

    def to_json(self) -> dict[str, object]:
        """The ``memfun optimize compare --json`` object."""
        return {
            "tasks": list(self.tasks),
            "baseline_score": self.baseline_score,
            "candidate_score": self.candidate_score,
            "difference": self.difference,
            "interval": [self.low, self.high],
            "confidence": self.confidence,
        }


def bootstrap_interval(
    baseline: Sequence[int],
    candidate: Sequence[int],
    *,
    resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A paired percentile bootstrap interval of mean(candidate) - mean(baseline).

    Pairs (the same task run by both) are resampled together with replacement.
    """
    pairs = list(zip(baseline, candidate, strict=True))
    rng = random.Random(seed)  # noqa: S311 - a reproducible resampling, not a secret
    n = len(pairs)
    diffs = sorted(
        sum(c - b for b, c in (pairs[rng.randrange(n)] for _ in range(n))) / n
        for _ in range(resamples)
    )
    tail = (1.0 - confidence) / 2
    return diffs[int(tail * (resamples - 1))], diffs[int((1.0 - tail) * (resamples - 1))]


def compare_programs(
    run: ProgramRunner,
    baseline: AgentProgram,
    candidate: AgentProgram,
    task_ids: Sequence[str],
    *,
    repeat: int = 1,
    resamples: int = 2_000,
    seed: int = 0,
) -> Comparison:
    """Run both programs on every task ``repeat`` times and compare them.

    Raises:
        ValidationError: No tasks.
    """
    if not task_ids:
        raise ValidationError("no held-out tasks", field="tasks", rule="at least one task")
    base: list[int] = []
    cand: list[int] = []
    for task_id in task_ids:
        for _ in range(repeat):
            base.append(int(run(task_id, baseline).solved))
            cand.append(int(run(task_id, candidate).solved))
    low, high = bootstrap_interval(base, cand, resamples=resamples, seed=seed)
    difference = (sum(cand) - sum(base)) / len(base)
    return Comparison(tuple(task_ids), tuple(base), tuple(cand), difference, low, high, 0.95)
