"""The prompt's size and content: tool signatures, and sizes fitted to the context window."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from typing import Any

from dspy.predict.rlm import RLM  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent._compact import COMPACT_REASONING, ESSENTIAL_TOOLS, compact_action_instructions
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

    Args:
        *args: As for ``dspy.RLM``.
        bridge: The tool bridge whose tools are offered.
        compact: Use the compact prompt.
        **kwargs: As for ``dspy.RLM``.
    """

    def __init__(
        self, *args: Any, bridge: ToolBridge, compact: bool = False, **kwargs: Any
    ) -> None:
        self._memfun_bridge = bridge
        self._memfun_compact = compact
        super().__init__(*args, **kwargs)

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
