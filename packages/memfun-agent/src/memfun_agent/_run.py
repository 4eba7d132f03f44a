"""One run's shared state: budgets, trace, steps; and the hooks DSPy calls into."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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


_FIELD_LABEL = re.compile(r"^\s*(reasoning|code)\s*:", re.I | re.M)
_LINE_NUMBER = re.compile(r"\bline \d+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def error_key(error: str) -> str:
    """What makes two step errors "the same": the exception line, without line numbers."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    last = lines[-1] if lines else error.strip()
    return _ADDRESS.sub("0x?", _LINE_NUMBER.sub("line ?", last))[:500]


def _explain(key: str) -> str:
    if key.startswith("NameError"):
        return (
            " The name does not exist in the REPL: define or import it first, or do without "
            "it (Memfun's own classes are not importable there; tools are plain functions "
            "that raise an exception you can catch with `except Exception as e`)."
        )
    if "ToolFailed" in key or "ToolError" in key:
        return (
            " The tool refused the call: follow the signature the message shows (arguments "
            "after `*` must be passed by name), or use another tool."
        )
    if key.startswith(("TypeError", "AttributeError", "KeyError")):
        return " Print the value's type and contents before using it again."
    return ""


def malformed_feedback(
    reason: str, reply: str | None, *, expected: Sequence[str], found: Sequence[str]
) -> str:
    """What the model is told after a reply that could not be parsed.

    Args:
        reason: The parser's own message (its first line is kept).
        reply: The reply, if any (a ``Code:`` label in place of a marker is pointed out).
        expected: The output fields the reply had to contain.
        found: The fields the parser found in it.
    """
    first = next((line.strip() for line in reason.splitlines() if line.strip()), "")
    because = "" if not first or first.startswith("Adapter ") else f" ({first[:300]})"
    markers = ", ".join(f"[[ ## {name} ## ]]" for name in expected)
    seen = ", ".join(f"[[ ## {name} ## ]]" for name in found) or "none of them"
    labels = sorted({m.group(1).lower() for m in _FIELD_LABEL.finditer(reply or "")})
    mistake = (
        " You wrote "
        + ", ".join(f"`{label.capitalize()}:`" for label in labels)
        + " where a marker belongs: the history shows past steps as `Code:`, but your reply "
        "must use the markers."
        if labels
        else ""
    )
    layout = "\n".join(
        f"[[ ## {name} ## ]]\n" + ("```python\n...\n```" if name == "code" else "...")
        for name in expected
    )
    return (
        f"Your previous reply could not be parsed{because}. Expected the fields {markers}; "
        f"found: {seen}.{mistake} Reply with each marker on its own line, exactly like "
        f"this:\n{layout}\n[[ ## completed ## ]]"
    )


@dataclass
class RunState:
    """Everything one run's hooks share (thread-safe where DSPy may call from threads).

    Attributes:
        meter: Budgets and consumption.
        recorder: The trace.
        max_malformed: Consecutive unparsable replies tolerated before the run stops.
        context_window: The model's window in tokens, when known (prompts are fitted to it).
        reply_tokens: The cap on each reply's tokens, when known.
        stuck: Why the run was stuck, once it was (its outputs were then extracted).
    """

    meter: BudgetMeter
    recorder: TraceRecorder
    max_malformed: int = 3
    context_window: int | None = None
    reply_tokens: int | None = None
    steps: list[Step] = field(default_factory=list[Step])
    pending_reasoning: str = ""
    pending_code: str = ""
    malformed_in_row: int = 0
    error_in_row: str = ""
    errors_in_row: int = 0
    finished: bool = False
    stuck: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def started(self) -> bool:
        """Whether the main model has been called (REPL calls before that are setup)."""
        return self.meter.usage.lm_calls > 0

    def on_lm_call(self, role: str, entry: Mapping[str, Any]) -> None:
        """Count and record one model call (from the LM's history hook).

        A call abandoned when the run stopped, that answers after the run ended, is ignored.
        """
        if self.finished:
            return
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

    def call_timeout(self) -> float | None:
        """Seconds the next model reply may take: the run's and the step's budgets left."""
        limits = [self.meter.remaining_wall(), self.meter.budgets.max_step_seconds]
        known = [limit for limit in limits if limit is not None]
        return min(known) if known else None

    def on_malformed(
        self,
        error: str,
        reply: str | None,
        *,
        expected: Sequence[str] = ("reasoning", "code"),
        found: Sequence[str] = (),
    ) -> str:
        """Record an unparsable reply; return the feedback shown to the model.

        Raises:
            RunStopped: After ``max_malformed`` such replies in a row.
        """
        with self.lock:
            self.malformed_in_row += 1
            count = self.malformed_in_row
        self.recorder.add(
            "malformed_reply",
            error=error,
            reply=reply or "",
            in_a_row=count,
            expected=list(expected),
            found=list(found),
        )
        if count >= self.max_malformed:
            raise RunStopped(
                "malformed_replies", f"{count} model replies in a row could not be parsed: {error}"
            )
        feedback = malformed_feedback(error, reply, expected=expected, found=found)
        with self.lock:
            self.pending_reasoning = "(unparsable reply)"
        return feedback

    def on_step_error(self, error: str | None) -> str | None:
        """Track repeated identical step errors; return guidance for the model, if due.

        ``None`` (a step without error) resets the count. The second identical error in
        a row and every later one get guidance appended to the error the model sees.

        Raises:
            RunStopped: ``stuck``, at ``max_repeated_errors`` identical errors in a row.
        """
        if error is None:
            with self.lock:
                self.error_in_row, self.errors_in_row = "", 0
            return None
        key = error_key(error)
        return self._repeated(
            key,
            lambda n: f"the same error as in the previous {n} step(s): {key}.{_explain(key)}",
        )

    def on_step_output(self, code: str, output: str) -> str | None:
        """Track a step that repeats the previous one exactly: the same code, the same output.

        A small model that defines a function without calling it sees "(no output)" and
        writes the same code again; like a repeated error, the second such step gets
        guidance and ``max_repeated_errors`` of them end the run as ``stuck``.

        Raises:
            RunStopped: ``stuck``, at ``max_repeated_errors`` identical steps in a row.
        """
        key = "same step: " + " ".join(code.split())[:300] + " -> " + output.strip()[:200]
        with self.lock:
            if key != self.error_in_row:
                self.error_in_row, self.errors_in_row = key, 1
                return None
        hint = (
            " It printed nothing: call the function you defined, or print() the values you "
            "want to see."
            if not output.strip()
            else " You have read this output already: if it answers the task, write only "
            '`SUBMIT(answer="<your answer>", summary="no changes")` as your next code.'
        )
        return self._repeated(
            key,
            lambda n: f"the same code as in the previous {n} step(s), with the same output.{hint}",
        )

    def _repeated(self, key: str, what: Callable[[int], str]) -> str | None:
        """Count ``key`` as a step's outcome: guidance from the first repeat, then ``stuck``.

        ``what(n)`` says what was repeated, ``n`` being the earlier steps alike.
        """
        limit = self.meter.budgets.max_repeated_errors
        kind = "step" if key.startswith("same step: ") else "error"
        with self.lock:
            if key == self.error_in_row:
                self.errors_in_row += 1
            else:
                self.error_in_row, self.errors_in_row = key, 1
            count = self.errors_in_row
        if count >= limit:
            self.recorder.add("stuck", error=key, in_a_row=count)
            raise RunStopped(
                "stuck",
                f"the same {kind} {count} steps in a row ({key}); the model did not change its "
                "approach after being told to",
            )
        if count < 2:  # noqa: PLR2004 - guidance from the first repeat on
            return None
        left = limit - count
        guidance = (
            f"[memfun] This is {what(count - 1)} Doing the same again will fail again: change "
            "the approach (inspect the values first, use another tool or another way), or "
            f"SUBMIT what you have with an explanation. {left} more identical {kind}(s) end the "
            "run."
        )
        self.recorder.add("guidance", error=key, in_a_row=count, message=guidance)
        return guidance

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
