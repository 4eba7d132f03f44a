"""RLM's action predictor, made tolerant of replies that cannot be parsed."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.utils.exceptions import AdapterParseError  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent._run import RunState

__all__ = ["TolerantAction"]


class TolerantAction(dspy.Module):
    """Wraps ``dspy.RLM.generate_action`` to check budgets and tolerate unparsable replies.

    Budgets are checked before each model call, and a reply that cannot be parsed becomes
    feedback to the model instead of a traceback.

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

    def _malformed(self, exc: AdapterParseError) -> dspy.Prediction:
        reply = getattr(exc, "lm_response", None)
        feedback = self._state.on_malformed(str(exc), reply if isinstance(reply, str) else None)
        return dspy.Prediction(reasoning="(unparsable reply)", code=f"print({feedback!r})")

    def _accept(self, prediction: Any) -> Any:
        self._state.on_action(str(getattr(prediction, "reasoning", "")), str(prediction.code))
        return prediction

    def forward(self, **kwargs: Any) -> Any:
        """Ask the model for the next step."""
        self._state.check("before a model call")
        try:
            prediction = self.predict(**kwargs)
        except AdapterParseError as exc:
            return self._malformed(exc)
        return self._accept(prediction)

    async def aforward(self, **kwargs: Any) -> Any:
        """Async form of :meth:`forward`."""
        self._state.check("before a model call")
        try:
            prediction = await self.predict.acall(**kwargs)
        except AdapterParseError as exc:
            return self._malformed(exc)
        return self._accept(prediction)
