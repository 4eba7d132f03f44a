"""The prompt's size and content: tool signatures, and sizes fitted to the context window."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.predict.rlm import RLM  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent._action import call_with_deadline
from memfun_agent._compact import (
    COMPACT_EXTRACT_INSTRUCTIONS,
    COMPACT_REASONING,
    ESSENTIAL_TOOLS,
    compact_action_instructions,
    compact_notes,
)
from memfun_agent._run import RunState, RunStopped
from memfun_agent._submit_text import unwrap_submitted
from memfun_agent.tools import ToolBridge, describe

__all__ = ["MemfunRLM", "output_chars_for", "repo_map_tokens_for"]

_OUTPUT_CHARS = 10_000
_REPO_MAP_TOKENS = 2048


def output_chars_for(context_window: int | None) -> int:
    """REPL output shown per step: DSPy's 10,000 chars, less for a small window.

    About a tenth of the window (at ~3.5 characters per token), at least 1,000 characters.
    """
    if context_window is None:
        return _OUTPUT_CHARS
    return max(1_000, min(_OUTPUT_CHARS, int(context_window * 3.5 / 10)))


def repo_map_tokens_for(context_window: int | None) -> int:
    """The repo map's token budget: 2,048, or an eighth of a smaller window."""
    if context_window is None:
        return _REPO_MAP_TOKENS
    return max(256, min(_REPO_MAP_TOKENS, context_window // 8))


class MemfunRLM(RLM):  # pyright: ignore[reportGeneralTypeIssues, reportUntypedBaseClass]
    """``dspy.RLM`` whose prompt lists each tool with its real signature.

    DSPy writes every tool as ``name(arg: type, ...)``, which reads as if every argument
    were positional and required. Here each tool shows which arguments are positional,
    which are keyword-only (after ``*``) and their defaults, exactly as the bridge
    accepts them.

    With ``compact``, DSPy's instructions, the sub-agent guide and the full tool list are
    replaced by a short prompt for small models (:mod:`memfun_agent._compact`): a few rules,
    the essential tools, one example turn, a one-sentence ``reasoning``; inputs that are
    empty are left out of the variables shown.

    When a run is ``stuck`` (the same error or step again and again), the model is asked
    once, as at ``max_iterations``, to extract its outputs from what it saw: a small model
    often has the answer in front of it and only fails to ``SUBMIT``.

    Args:
        *args: As for ``dspy.RLM``.
        bridge: The tool bridge whose tools are offered.
        compact: Use the compact prompt.
        state: The run's state (the extraction after ``stuck`` is bounded by its budgets);
            ``None``: a stuck run ends without it.
        **kwargs: As for ``dspy.RLM``.
    """

    def __init__(
        self,
        *args: Any,
        bridge: ToolBridge,
        compact: bool = False,
        state: RunState | None = None,
        **kwargs: Any,
    ) -> None:
        self._memfun_bridge = bridge
        self._memfun_compact = compact
        self._memfun_state = state
        super().__init__(*args, **kwargs)

    def _execute_iteration(  # noqa: PLR0917 - DSPy's signature
        self,
        repl: Any,
        variables: Any,
        history: Any,
        iteration: int,
        input_args: Any,
        output_field_names: list[str],
        *rest: Any,
    ) -> Any:
        try:
            return super()._execute_iteration(
                repl, variables, history, iteration, input_args, output_field_names, *rest
            )
        except RunStopped as stopped:
            state = self._memfun_state
            if stopped.reason != "stuck" or state is None:
                raise
            state.stuck = stopped.detail
            try:

                def extract() -> Any:
                    return self._extract_fallback(variables, history, output_field_names)

                prediction = call_with_deadline(extract, state.call_timeout(), state)
            except Exception as exc:  # the run ends stuck without an answer, as recorded
                state.recorder.add("note", message=f"no answer extracted after stuck: {exc!r}")
                raise stopped from exc
            state.recorder.add("note", message="stuck: the outputs were extracted from the steps")
            return prediction

    def _extract_fallback(self, variables: Any, history: Any, output_field_names: list[str]) -> Any:
        """DSPy's extraction (compact: :meth:`_compact_extract`), ``SUBMIT(...)`` text read back."""
        if self._memfun_compact:
            prediction = self._compact_extract(variables, history, output_field_names)
        else:
            prediction = super()._extract_fallback(variables, history, output_field_names)
        outputs = {name: getattr(prediction, name, None) for name in output_field_names}
        unwrapped = unwrap_submitted(outputs, output_field_names)
        if unwrapped != outputs:
            for name, value in unwrapped.items():
                prediction[name] = value
            if self._memfun_state is not None:
                self._memfun_state.recorder.add(
                    "note", message="the extracted answer was SUBMIT(...) text: its values are used"
                )
        return prediction

    def _compact_extract(self, variables: Any, history: Any, output_field_names: list[str]) -> Any:
        """The outputs from the task and the model's notes (``COMPACT_EXTRACT_INSTRUCTIONS``)."""
        first_input = next(iter(self.signature.input_fields), "task")
        task = next((str(v.preview) for v in variables if v.name == first_input), "")
        entries = list(history)
        notes = compact_notes((str(e.reasoning), str(e.output)) for e in entries)
        extracted = self.extract(task=task, notes=notes)
        return dspy.Prediction(
            trajectory=[e.model_dump() for e in entries],
            final_reasoning="Extract forced final output",
            **{name: getattr(extracted, name) for name in output_field_names},
        )

    def _build_signatures(self) -> tuple[Any, Any]:
        action, extract = super()._build_signatures()
        if not self._memfun_compact:
            return action, extract
        bridged = self._memfun_bridge.names
        tools = [name for name in self._user_tools if name in bridged]
        essential = [name for name in ESSENTIAL_TOOLS if name in tools]
        instructions = compact_action_instructions(
            task_instructions=self.signature.instructions,
            inputs=list(self.signature.input_fields),
            outputs=list(self.signature.output_fields),
            tools=[self._memfun_bridge.spec(name) for name in essential],
            other_tools=[name for name in sorted(self._user_tools) if name not in essential],
        )
        action = action.with_instructions(instructions).with_updated_fields(
            "reasoning", desc=COMPACT_REASONING
        )
        extract = (  # DSPy's: the outputs; no variables or REPL history
            extract.delete("variables_info")
            .delete("repl_history")
            .with_instructions(COMPACT_EXTRACT_INSTRUCTIONS)
            .prepend("notes", dspy.InputField(desc="What you found, step by step"), type_=str)
            .prepend("task", dspy.InputField(desc="The task"), type_=str)
        )
        return action, extract

    def _action_signature_for_current_factory(self, factory: Any, sub_agent_rules: str) -> Any:
        if self._memfun_compact:  # the compact prompt carries its own REPL rules
            return getattr(self.generate_action, "signature", self._action_signature)
        return super()._action_signature_for_current_factory(factory, sub_agent_rules)

    def _build_variables(self, **input_args: Any) -> list[Any]:
        variables = super()._build_variables(**input_args)
        if not self._memfun_compact:
            return variables
        return [v for v in variables if input_args.get(v.name) != ""]

    def _format_tool_docs(self, tools: dict[str, Any]) -> str:
        names = [name for name in tools if name in self._memfun_bridge.names]
        others = {name: tool for name, tool in tools.items() if name not in names}
        lines = [
            "\nAdditional tools available (use these instead of standard library "
            "equivalents; arguments after `*` must be passed by name):",
            describe(self._memfun_bridge.spec(name) for name in names),
        ]
        return "\n".join(lines) + (super()._format_tool_docs(others) if others else "")
