"""Running the RLM loop once, and what its ending means for the run."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.primitives.code_interpreter import CodeInterpreterError  # pyright: ignore[reportMissingTypeStubs]
from dspy.utils.exceptions import AdapterParseError, LMError  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent._action import model_error_detail
from memfun_agent._agent_result import RunOutcome, outcome_of
from memfun_agent._run import RunState, RunStopped
from memfun_core.errors import ConfigError

__all__ = ["StepAdapter", "run_loop"]


class StepAdapter(dspy.ChatAdapter):
    """DSPy's chat adapter, formatting each signature's system message once.

    The system message (the fields' descriptions and structure and the instructions) is a
    function of the signature alone, and a run asks the model with the same signature at
    every step; rebuilding it took most of the formatting time of a step (the agent's
    signature has more inputs and a longer tool list than a bare ``dspy.RLM``'s). The
    inputs and the steps so far are formatted anew each time, as before.
    """

    def __init__(self) -> None:
        super().__init__(use_json_adapter_fallback=False)
        self._system: dict[type[Any], str] = {}  # holds each signature class: no id reuse

    def format_system_message(self, signature: type[Any]) -> str:
        """The system message of ``signature``, formatted on first use."""
        text = self._system.get(signature)
        if text is None:
            text = self._system[signature] = super().format_system_message(signature)
        return text


def run_loop(rlm: Any, inputs: Mapping[str, Any], lm: Any, state: RunState) -> RunOutcome:
    """Call ``rlm`` on ``inputs`` with ``lm`` as the main model; say how the run ended.

    A stop (a budget, a cancel, an interrupt), a sandbox failure, an unparsable final answer
    and a model error each end the run with their reason; any other exception is recorded
    in the trace with its traceback and ends it as ``internal_error``.

    Raises:
        ConfigError: The first prompt cannot fit the model's window (refused, no run).
    """
    adapter = StepAdapter()
    try:
        with dspy.context(lm=lm, adapter=adapter):
            prediction = rlm(**inputs)
    except RunStopped as exc:
        return RunOutcome(exc.reason, error=exc.detail)
    except CodeInterpreterError as exc:
        return RunOutcome("sandbox_error", error=f"the sandbox failed: {exc}")
    except AdapterParseError as exc:
        return RunOutcome("malformed_replies", error=f"the final answer could not be parsed: {exc}")
    except LMError as exc:
        return RunOutcome("model_error", error=model_error_detail(exc))
    except ConfigError:
        raise
    except Exception as exc:  # recorded in the trace with its traceback, never swallowed silently
        detail = "".join(traceback.format_exception(exc))
        state.recorder.add("internal_error", error=detail)
        return RunOutcome("internal_error", error=f"{type(exc).__name__}: {exc}")
    return outcome_of(prediction, state)
