"""RLM's action predictor, made tolerant of unparsable replies and bounded in time and size."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.primitives.repl_types import REPLEntry, REPLHistory  # pyright: ignore[reportMissingTypeStubs]
from dspy.utils.exceptions import (  # pyright: ignore[reportMissingTypeStubs]
    AdapterParseError,
    ContextWindowExceededError,
)

from memfun_agent._call_threads import DaemonThreads
from memfun_agent._run import RunState, RunStopped
from memfun_core.errors import ConfigError

__all__ = [
    "CHARS_PER_TOKEN",
    "WINDOW_HINT",
    "TolerantAction",
    "call_with_deadline",
    "model_error_detail",
]

CHARS_PER_TOKEN = 3.5
"""Characters per token when a prompt's size is estimated (code and English, a little low)."""

WINDOW_HINT = (
    "give the model a larger window: start llama.cpp's llama-server with -c 16384, "
    "llama-cpp-python's server with --n_ctx 16384 (Ollama: the num_ctx parameter), then set "
    "[llm] context_window = 16384 in memfun.toml; or lower [llm] max_reply_tokens"
)
"""What to change when the prompt does not fit the model's context window."""


def model_error_detail(exc: Exception) -> str:
    """The message of a failed model call, with what to change when the window was too small."""
    text = f"the model call failed: {exc}"
    lowered = str(exc).lower()
    if (
        isinstance(exc, ContextWindowExceededError)
        or "context window" in lowered
        or ("context length" in lowered)
    ):
        text += f" (hint: {WINDOW_HINT})"
    return text


class _NoReplyInTime(Exception):
    """A model call outlived the time it was given."""


_POLL_SECONDS = 0.2
_MODEL_CALLS = DaemonThreads("memfun-model-call")  # a new thread per call cost ~0.5 ms a step
_ABORTING = ("cancelled", "interrupted")


def call_with_deadline(call: Callable[[], Any], seconds: float | None, state: RunState) -> Any:
    """Run ``call`` in a (reused) daemon thread; wait at most ``seconds``, or until stopped.

    A model call blocked on a slow server cannot be interrupted from outside; the run
    stops waiting instead, and the abandoned thread ends with the process (or when the
    server answers, its reply ignored).

    Raises:
        _NoReplyInTime: No result in time.
        RunStopped: The run was cancelled or interrupted meanwhile.
    """
    context = contextvars.copy_context()  # DSPy's settings (lm, adapter) travel along
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = context.run(call)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    _MODEL_CALLS.submit(run)
    deadline = None if seconds is None else time.monotonic() + seconds
    while not done.wait(_POLL_SECONDS):
        reason = state.meter.exhausted()
        if reason is not None and reason in _ABORTING:
            raise RunStopped(reason, f"the run was {reason} during a model call")
        if deadline is not None and time.monotonic() >= deadline:
            raise _NoReplyInTime(f"no reply within {seconds:.0f} seconds")
    if "error" in box:
        raise box["error"]
    return box["value"]


class TolerantAction(dspy.Module):
    """Wraps ``dspy.RLM.generate_action``: budgets, the context window, unparsable replies.

    Before each model call the budgets are checked and the prompt is fitted to the
    model's context window when it is known (the oldest REPL steps are left out; at the
    first call, a prompt that cannot fit is a :class:`~memfun_core.errors.ConfigError`
    naming the setting to change). The call is bounded by the wall-clock budget left
    (the run's and the step's), and a reply that cannot be parsed becomes feedback to the
    model instead of a traceback.

    The wrapped ``dspy.Predict`` stays reachable as ``.predict`` (optimizers find it).

    Args:
        predict: RLM's own action predictor.
        state: The run's state.
    """

    def __init__(self, predict: dspy.Predict, state: RunState) -> None:
        super().__init__()
        self.predict = predict
        self._state = state

    @property
    def signature(self) -> Any:
        """The action signature (RLM derives per-call signatures from it)."""
        return self.predict.signature

    # --- the context window ----------------------------------------------------------------

    def _prompt_tokens(self, kwargs: dict[str, Any]) -> int:
        signature = kwargs.get("signature", self.predict.signature)
        inputs = {k: v for k, v in kwargs.items() if k not in ("signature", "config")}
        adapter = dspy.settings.adapter or dspy.ChatAdapter()
        messages = adapter.format(signature, demos=list(self.predict.demos), inputs=inputs)
        chars = sum(len(str(message.get("content", ""))) for message in messages)
        return math.ceil(chars / CHARS_PER_TOKEN)

    def _fit(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        state = self._state
        window = state.context_window
        if window is None:
            return kwargs
        reply = state.reply_tokens or 0
        tokens = self._prompt_tokens(kwargs)
        if tokens + reply <= window:
            return kwargs
        if not state.started:
            raise ConfigError(
                f"the agent's first prompt needs about {tokens} tokens plus up to {reply} for "
                f"the reply, more than the model's context window of {window} tokens",
                key="llm.context_window",
                hint=WINDOW_HINT,
            )
        history = kwargs.get("repl_history")
        entries: list[Any] = list(getattr(history, "entries", []))
        dropped = 0
        while len(entries) > 1 and tokens + reply > window:
            entries, dropped = entries[1:], dropped + 1
            note = REPLEntry(
                code=f"# {dropped} earlier step(s) left out to fit the context window",
                output="(their REPL variables still exist)",
            )
            trimmed = REPLHistory(
                entries=[note, *entries],
                max_output_chars=getattr(history, "max_output_chars", 10_000),
            )
            kwargs = {**kwargs, "repl_history": trimmed}
            tokens = self._prompt_tokens(kwargs)
        if tokens + reply > window:
            raise RunStopped(
                "model_error",
                f"the prompt (about {tokens} tokens) no longer fits the model's context window "
                f"of {window} tokens ({WINDOW_HINT})",
            )
        if dropped:
            state.recorder.add("note", message=f"left out {dropped} old step(s) to fit the window")
        return kwargs

    # --- calls -----------------------------------------------------------------------------

    def _malformed(self, exc: AdapterParseError) -> dspy.Prediction:
        reply = getattr(exc, "lm_response", None)
        signature = getattr(exc, "signature", None)
        expected = list(getattr(signature, "output_fields", {}) or ["reasoning", "code"])
        parsed = getattr(exc, "parsed_result", None)
        found = list(parsed) if isinstance(parsed, dict) else []
        feedback = self._state.on_malformed(
            str(exc), reply if isinstance(reply, str) else None, expected=expected, found=found
        )
        return dspy.Prediction(reasoning="(unparsable reply)", code=f"print({feedback!r})")

    def _accept(self, prediction: Any) -> Any:
        self._state.on_action(str(getattr(prediction, "reasoning", "")), str(prediction.code))
        return prediction

    def _out_of_time(self, seconds: float) -> RunStopped:
        state = self._state
        step = state.meter.budgets.max_step_seconds
        state.meter.trip("max_wall_time")
        if step is not None and seconds >= step:  # the step's budget, not the run's, was shorter
            return RunStopped(
                "max_wall_time",
                f"the model's reply took longer than the step budget of {seconds:.0f} s "
                "([llm.budgets] max_step_seconds; a lower [llm] max_reply_tokens shortens "
                "replies)",
            )
        return RunStopped(
            "max_wall_time",
            f"the run's wall-clock budget ran out during a model call ({seconds:.0f} s left "
            "when it started; [llm.budgets] max_wall_seconds)",
        )

    def forward(self, **kwargs: Any) -> Any:
        """Ask the model for the next step."""
        self._state.check("before a model call")
        kwargs = self._fit(kwargs)
        seconds = self._state.call_timeout()
        try:
            prediction = call_with_deadline(lambda: self.predict(**kwargs), seconds, self._state)
        except AdapterParseError as exc:
            return self._malformed(exc)
        except _NoReplyInTime:
            raise self._out_of_time(seconds or 0.0) from None
        return self._accept(prediction)

    async def aforward(self, **kwargs: Any) -> Any:
        """Async form of :meth:`forward`."""
        self._state.check("before a model call")
        kwargs = self._fit(kwargs)
        seconds = self._state.call_timeout()
        call = asyncio.ensure_future(self.predict.acall(**kwargs))
        done, _ = await asyncio.wait({call}, timeout=seconds)
        if not done:
            call.cancel()
            raise self._out_of_time(seconds or 0.0)
        try:
            prediction = call.result()
        except AdapterParseError as exc:
            return self._malformed(exc)
        return self._accept(prediction)
