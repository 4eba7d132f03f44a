"""The prompt's size and content: tool signatures, and sizes fitted to the context window."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from typing import Any

from dspy.predict.rlm import RLM  # pyright: ignore[reportMissingTypeStubs]

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

    Args:
        *args: As for ``dspy.RLM``.
        bridge: The tool bridge whose tools are offered.
        **kwargs: As for ``dspy.RLM``.
    """

    def __init__(self, *args: Any, bridge: ToolBridge, **kwargs: Any) -> None:
        self._memfun_bridge = bridge
        super().__init__(*args, **kwargs)

    def _format_tool_docs(self, tools: dict[str, Any]) -> str:
        names = [name for name in tools if name in self._memfun_bridge.names]
        others = {name: tool for name, tool in tools.items() if name not in names}
        lines = [
            "\nAdditional tools available (use these instead of standard library "
            "equivalents; arguments after `*` must be passed by name):",
            describe(self._memfun_bridge.spec(name) for name in names),
        ]
        return "\n".join(lines) + (super()._format_tool_docs(others) if others else "")
