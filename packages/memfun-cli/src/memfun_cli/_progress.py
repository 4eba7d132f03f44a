"""Live progress of an agent run: each trace record condensed into a line, as it happens.

:func:`progress_event` turns a trace record into a small event (in ``memfun chat`` the turn
process does it and sends the event over its pipe); :class:`ProgressPrinter` prints it with
the tokens and cost spent so far. The task commands (``ask``, ``fix``, skills, ...) and the
chat print the same lines. Nothing here waits for the run to end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ProgressPrinter", "progress_event"]

_REASONING = re.compile(r"\[\[ ## reasoning ## \]\]\s*(.*?)\s*(?:\[\[ ## |\Z)", re.S)
_HEADLINE_CHARS = 100
_TARGET_CHARS = 60
_TARGET_KEYS = ("path", "pattern", "query", "url", "command", "name")


def _first_line(text: str, limit: int, *, last: bool = False) -> str:
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    line = (lines[-1] if last else lines[0]) if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _target(arguments: object) -> str:
    if not isinstance(arguments, Mapping):
        return ""
    args = cast("Mapping[str, object]", arguments)
    for key in _TARGET_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value:
            return _first_line(value, _TARGET_CHARS)
    return ""


def progress_event(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The progress event of one trace record, or ``None`` for a record not shown.

    Args:
        record: A trace record as the agent's listener receives it (see docs/agent.md).
    """
    kind = record.get("kind")
    if kind == "lm_call":
        match = _REASONING.search(str(record.get("reply", "")))
        return {
            "kind": kind,
            "role": record.get("role", "main"),
            "tokens": int(record.get("input_tokens") or 0) + int(record.get("output_tokens") or 0),
            "cost_usd": float(record.get("cost_usd") or 0.0),
            "headline": _first_line(match.group(1), _HEADLINE_CHARS) if match else "",
        }
    if kind == "tool_call":
        error = record.get("error")
        return {
            "kind": kind,
            "tool": record.get("tool", "?"),
            "target": _target(record.get("arguments")),
            "error": None if record.get("ok", True) else _first_line(str(error), 200),
        }
    if kind == "step":
        error = record.get("error")
        return {
            "kind": kind,
            "iteration": int(record.get("iteration") or 0),
            "error": _first_line(str(error), 200, last=True) if error else None,  # the message
        }
    return _small_event(str(kind), record)


def _small_event(kind: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Checks, unparsable replies and the memories a run was given (their ids)."""
    if kind == "verification":
        return {"kind": kind, "passed": bool(record.get("passed"))}
    if kind == "malformed_reply":
        return {"kind": kind, "in_a_row": int(record.get("in_a_row") or 0)}
    if kind == "memories":
        ids: list[Any] = list(record.get("ids") or [])
        return {"kind": kind, "ids": [str(i) for i in ids]}
    if kind == "learned":  # an agent run's learnings (memfun_cli._memory_run.with_memory)
        return {
            "kind": kind,
            "learnings": record.get("learnings") or [],
            "error": record.get("error"),
        }
    return None


@dataclass
class ProgressPrinter:
    """Prints a turn's progress events as they arrive, with running totals.

    Attributes:
        console: Where the lines go.
        steps_done: Steps that finished running.
        tokens: Tokens spent so far in this turn.
        cost_usd: Cost so far in this turn.
    """

    console: Console
    steps_done: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def show(self, event: Mapping[str, Any]) -> None:
        """Print one progress event (unknown kinds are ignored)."""
        kind = event.get("kind")
        if kind == "lm_call":
            self.tokens += int(event.get("tokens", 0))
            self.cost_usd += float(event.get("cost_usd", 0.0))
            totals = f"[{self.tokens} tokens, ${self.cost_usd:.4f} so far]"
            headline = str(event.get("headline", ""))
            if event.get("role") == "sub":
                self._line(f"  llm_query answered {totals}")
            else:
                text = f" — {headline}" if headline else ""
                self._line(f"· step {self.steps_done + 1}{text} {totals}")
        elif kind == "tool_call":
            target = f" {event['target']}" if event.get("target") else ""
            failed = f" — failed: {event['error']}" if event.get("error") else ""
            self._line(f"  tool {event.get('tool', '?')}{target}{failed}")
        elif kind == "step":
            self.steps_done = max(self.steps_done, int(event.get("iteration", 0)))
            if event.get("error"):
                self._line(f"  error: {event['error']}")
        elif kind == "verification":
            self._line(f"  checks {'passed' if event.get('passed') else 'failed'}")
        elif kind == "malformed_reply":
            self._line(f"  the reply could not be parsed ({event.get('in_a_row', 1)} in a row)")
        elif kind in ("memories", "learned"):
            self._memory_line(event)
        elif kind == "skill":
            how = (
                "named"
                if event.get("method") == "slash"
                else f"matched, score {event.get('score')}"
            )
            if event.get("name"):
                self._line(f"· skill /{event.get('name')} ({how})")
            if event.get("note"):  # e.g. a skill ranked lower for its recorded failures
                self._line(f"  skill routing: {event['note']}")

    def _memory_line(self, event: Mapping[str, Any]) -> None:
        """``memories``: the ids a run was given; ``learned``: what it added to MEMORY.md."""
        if event.get("kind") == "memories":
            ids: list[str] = list(event.get("ids") or [])
            self._line(f"· memory: {len(ids)} given" + (f" ({', '.join(ids)})" if ids else ""))
            return
        if event.get("error"):
            self._line(f"· memory: learning failed: {event['error']}")
            return
        learnings: list[dict[str, str]] = list(event.get("learnings") or [])
        if not learnings:
            self._line("· memory: nothing new learnt")
        for item in learnings:
            self._line(f"· remembered {item['id']} [{item['kind']}] {item['text']}")
