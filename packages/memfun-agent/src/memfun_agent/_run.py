"""One run's shared state: budgets, trace, steps; and the hooks DSPy calls into."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from memfun_agent._budget import BudgetMeter, StopReason
from memfun_agent.traces import TraceRecorder

__all__ = ["RunState", "RunStopped", "Step", "meter_lm"]


class RunStopped(Exception):
    """Raised inside ``dspy.RLM`` to end a run early; the agent returns a partial result."""

    def __init__(self, reason: StopReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: StopReason = reason
        self.detail = detail


@dataclass(slots=True)
class Step:
    """One REPL step as the agent saw it."""

    iteration: int
    reasoning: str
    code: str
    output: str = ""
    error: str | None = None
    final: bool = False


def _usage_numbers(usage: Mapping[str, Any]) -> tuple[int, int]:
    def pick(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return 0

    return pick("prompt_tokens", "input_tokens"), pick("completion_tokens", "output_tokens")


def _text_size(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        parts = cast("list[object]", content)
        return sum(
            len(str(cast("Mapping[str, object]", part).get("text", "")))
            for part in parts
            if isinstance(part, Mapping)
        )
    return 0


def _prompt_chars(entry: Mapping[str, Any]) -> int:
    messages = cast("list[object]", entry.get("messages") or [])
    total = 0
    for message in messages:
        if isinstance(message, Mapping):
            total += _text_size(cast("Mapping[str, object]", message).get("content"))
    prompt = entry.get("prompt")
    return total + (len(prompt) if isinstance(prompt, str) else 0)


@dataclass
class RunState:
    """Everything one run's hooks share (thread-safe where DSPy may call from threads).

    Attributes:
        meter: Budgets and consumption.
        recorder: The trace.
        max_malformed: Consecutive unparsable replies tolerated before the run stops.
    """

    meter: BudgetMeter
    recorder: TraceRecorder
    max_malformed: int = 3
    steps: list[Step] = field(default_factory=list[Step])
    pending_reasoning: str = ""
    pending_code: str = ""
    malformed_in_row: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def started(self) -> bool:
        """Whether the main model has been called (REPL calls before that are setup)."""
        return self.meter.usage.lm_calls > 0

    def on_lm_call(self, role: str, entry: Mapping[str, Any]) -> None:
        """Count and record one model call (from the LM's history hook)."""
        usage = entry.get("usage")
        numbers: Mapping[str, Any] = (
            cast("Mapping[str, Any]", usage) if isinstance(usage, Mapping) else {}
        )
        tokens_in, tokens_out = _usage_numbers(numbers)
        raw_cost = entry.get("cost")
        cost = float(raw_cost) if isinstance(raw_cost, int | float) else None
        cost = self.meter.record_call(
            sub=role == "sub", input_tokens=tokens_in, output_tokens=tokens_out, cost=cost
        )
        outputs = entry.get("outputs")
        reply: object = (
            cast("list[object]", outputs)[0] if isinstance(outputs, list) and outputs else ""
        )
        if isinstance(reply, Mapping):
            reply = cast("Mapping[str, object]", reply).get("text", "")
        self.recorder.add(
            "lm_call",
            role=role,
            model=str(entry.get("model", "")),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            prompt_chars=_prompt_chars(entry),
            reply=str(reply),
        )

    def check(self, where: str) -> None:
        """Stop the run if a budget is used up.

        Raises:
            RunStopped: With the exhausted budget as the reason.
        """
        reason = self.meter.exhausted()
        if reason is not None:
            usage = self.meter.usage
            raise RunStopped(
                reason,
                f"{reason} reached {where} (tokens {usage.tokens}, cost ${usage.cost_usd:.4f}, "
                f"{usage.wall_seconds:.1f} s, {usage.sub_lm_calls} sub-LLM calls)",
            )

    def on_action(self, reasoning: str, code: str) -> None:
        """Remember the model's latest reasoning and code (joined to the next step)."""
        with self.lock:
            self.pending_reasoning, self.pending_code = reasoning, code
            self.malformed_in_row = 0

    def on_malformed(self, error: str, reply: str | None) -> str:
        """Record an unparsable reply; return the feedback shown to the model.

        Raises:
            RunStopped: After ``max_malformed`` such replies in a row.
        """
        with self.lock:
            self.malformed_in_row += 1
            count = self.malformed_in_row
        self.recorder.add("malformed_reply", error=error, reply=reply or "", in_a_row=count)
        if count >= self.max_malformed:
            raise RunStopped(
                "malformed_replies", f"{count} model replies in a row could not be parsed: {error}"
            )
        feedback = (
            "Your previous reply could not be parsed "
            f"({error.splitlines()[0][:300] if error else 'no details'}). Reply with the fields "
            "[[ ## reasoning ## ]] and [[ ## code ## ]] (Python in a ```python block), then "
            "[[ ## completed ## ]]."
        )
        with self.lock:
            self.pending_reasoning = "(unparsable reply)"
        return feedback

    def new_step(self, code: str) -> Step:
        """Start recording one REPL step."""
        iteration = self.meter.record_iteration()
        with self.lock:
            step = Step(iteration, self.pending_reasoning, code)
            self.steps.append(step)
        return step

    def end_step(self, step: Step, started: float) -> None:
        """Record a finished step in the trace."""
        self.recorder.add(
            "step",
            iteration=step.iteration,
            reasoning=step.reasoning,
            code=step.code,
            output=step.output,
            error=step.error,
            final=step.final,
            duration=round(time.monotonic() - started, 6),
        )


def meter_lm(lm: Any, role: str, state: RunState) -> Any:
    """A copy of ``lm`` whose every call is counted and traced as ``role``.

    DSPy records each call in the LM's history (usage and cost included); the copy's
    ``update_history`` is wrapped to feed the run's meter and trace too.
    """
    copy = lm.copy()
    original: Callable[[Any], None] = copy.update_history

    def update_history(entry: Any) -> None:
        original(entry)
        if isinstance(entry, Mapping):
            state.on_lm_call(role, cast("Mapping[str, Any]", entry))

    copy.update_history = update_history
    return copy
