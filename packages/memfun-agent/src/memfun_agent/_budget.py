"""Run budgets (iterations, sub-LLM calls, tokens, dollars, wall time) and their meter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from memfun_core.config import BudgetConfig
from memfun_core.errors import ValidationError

__all__ = ["LOCAL_STEP_SECONDS", "BudgetMeter", "Budgets", "Pricing", "StopReason", "Usage"]

LOCAL_STEP_SECONDS = 300.0
"""Seconds one reply of a local model may take unless ``max_step_seconds`` says otherwise."""

StopReason = Literal[
    "completed",
    "max_iterations",
    "max_llm_calls",
    "max_tokens",
    "max_cost",
    "max_wall_time",
    "malformed_replies",
    "model_error",
    "sandbox_error",
    "cancelled",
    "stuck",
    "interrupted",
]
"""Why a run ended: ``completed`` (the model submitted), a budget, or a failure.

``stuck``: the same error ``max_repeated_errors`` steps in a row; ``interrupted``: the
process got SIGINT or SIGTERM."""


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits of one run; ``None`` means unlimited. Mirrors ``[llm.budgets]``.

    Attributes:
        max_iterations: REPL steps (model turns) before the run stops.
        max_llm_calls: Sub-LLM calls (``llm_query``, ``llm_query_batched``, sub-agents).
        max_tokens: Tokens (input plus output) over every model call of the run.
        max_cost_usd: Dollars over every model call (priced by DSPy, else by ``Pricing``).
        max_wall_seconds: Wall-clock seconds of the whole run (a model call in progress
            is ended when they run out).
        max_step_seconds: Wall-clock seconds one model reply may take (``None``: only the
            run's budget); local models get one by default (see ``for_model``).
        max_repeated_errors: The same error this many steps in a row ends the run
            (``stuck``); from the second, the model is told to change its approach.
    """

    max_iterations: int = 20
    max_llm_calls: int = 50
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = 900.0
    max_step_seconds: float | None = None
    max_repeated_errors: int = 4

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValidationError(
                f"is {self.max_iterations}", field="max_iterations", rule="at least 1"
            )
        if self.max_llm_calls < 0:
            raise ValidationError(f"is {self.max_llm_calls}", field="max_llm_calls", rule=">= 0")
        if self.max_repeated_errors < 2:  # noqa: PLR2004 - the second one gets guidance
            raise ValidationError(
                f"is {self.max_repeated_errors}", field="max_repeated_errors", rule="at least 2"
            )

    @classmethod
    def from_config(cls, config: BudgetConfig, *, local: bool = False) -> Budgets:
        """Read ``[llm.budgets]``; ``local``: the model runs on a local server.

        A local model (slow on a CPU) gets a per-step budget of
        :data:`LOCAL_STEP_SECONDS` unless ``max_step_seconds`` is set.
        """
        step = config.max_step_seconds
        if step is None and local:
            step = LOCAL_STEP_SECONDS
        return cls(
            max_iterations=config.max_iterations,
            max_llm_calls=config.max_llm_calls,
            max_tokens=config.max_tokens,
            max_cost_usd=config.max_cost_usd,
            max_wall_seconds=config.max_wall_seconds,
            max_step_seconds=step,
            max_repeated_errors=config.max_repeated_errors,
        )


@dataclass(frozen=True, slots=True)
class Pricing:
    """Dollars per million tokens, for models DSPy cannot price (local or custom servers)."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The price of one call."""
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class Usage:
    """What a run consumed so far.

    Attributes:
        iterations: REPL steps the model took.
        lm_calls: Calls to the main model.
        sub_lm_calls: Calls to the sub-model (``llm_query`` and sub-agents).
        input_tokens: Prompt tokens over every call.
        output_tokens: Completion tokens over every call.
        cost_usd: Dollars over every priced call.
        unpriced_calls: Calls whose cost nobody could tell (not counted in ``cost_usd``).
        wall_seconds: Seconds since the run started.
    """

    iterations: int = 0
    lm_calls: int = 0
    sub_lm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    wall_seconds: float = 0.0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class BudgetMeter:
    """Counts a run's consumption against its :class:`Budgets` (thread-safe).

    Args:
        budgets: The limits.
        pricing: Used for calls DSPy reports no cost for.
        clock: Monotonic seconds (replaceable in tests).
    """

    def __init__(
        self,
        budgets: Budgets,
        *,
        pricing: Pricing | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budgets = budgets
        self._pricing = pricing
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._usage = Usage()
        self._tripped: StopReason | None = None

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self._started

    def remaining_wall(self) -> float | None:
        """Seconds left of the wall-clock budget (``None``: unlimited)."""
        limit = self.budgets.max_wall_seconds
        return None if limit is None else max(0.0, limit - self.elapsed())

    @property
    def usage(self) -> Usage:
        """A snapshot of the consumption so far."""
        with self._lock:
            usage = self._usage
        return Usage(
            iterations=usage.iterations,
            lm_calls=usage.lm_calls,
            sub_lm_calls=usage.sub_lm_calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            unpriced_calls=usage.unpriced_calls,
            wall_seconds=self.elapsed(),
        )

    def record_call(
        self, *, sub: bool, input_tokens: int, output_tokens: int, cost: float | None
    ) -> float | None:
        """Count one model call; return its cost (``None`` when unknown)."""
        if cost is None and self._pricing is not None:
            cost = self._pricing.cost(input_tokens, output_tokens)
        with self._lock:
            u = self._usage
            self._usage = Usage(
                iterations=u.iterations,
                lm_calls=u.lm_calls + (0 if sub else 1),
                sub_lm_calls=u.sub_lm_calls + (1 if sub else 0),
                input_tokens=u.input_tokens + input_tokens,
                output_tokens=u.output_tokens + output_tokens,
                cost_usd=u.cost_usd + (cost or 0.0),
                unpriced_calls=u.unpriced_calls + (1 if cost is None else 0),
            )
        return cost

    def record_iteration(self) -> int:
        """Count one REPL step of the model; return the step number (1-based)."""
        with self._lock:
            u = self._usage
            self._usage = Usage(
                iterations=u.iterations + 1,
                lm_calls=u.lm_calls,
                sub_lm_calls=u.sub_lm_calls,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cost_usd=u.cost_usd,
                unpriced_calls=u.unpriced_calls,
            )
            return u.iterations + 1

    def trip(self, reason: StopReason) -> None:
        """Mark a budget as exhausted (the first reason wins)."""
        with self._lock:
            if self._tripped is None:
                self._tripped = reason

    def exhausted(self) -> StopReason | None:
        """The budget that is used up, if any (tokens, dollars, wall time, sub-calls)."""
        with self._lock:
            if self._tripped is not None:
                return self._tripped
            u = self._usage
        b = self.budgets
        if b.max_tokens is not None and u.input_tokens + u.output_tokens >= b.max_tokens:
            return "max_tokens"
        if b.max_cost_usd is not None and u.cost_usd >= b.max_cost_usd:
            return "max_cost"
        if b.max_wall_seconds is not None and self.elapsed() >= b.max_wall_seconds:
            return "max_wall_time"
        return None
