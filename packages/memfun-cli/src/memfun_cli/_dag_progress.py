"""Live progress of an orchestrated run: the plan's DAG, each node's state, agent and cost.

:class:`DagProgress` reads the orchestrated run's trace records as they happen (the
orchestrator's listener) and keeps a table of the nodes: pending, running, done, failed or
skipped, with the agent, attempt, worker and cost. On a terminal the table is redrawn in
place (rich ``Live``); elsewhere each change is one line. Nothing here waits for the run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

__all__ = ["DagProgress", "NodeView"]

_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "done": "green",
    "failed": "red",
    "skipped": "yellow",
}


@dataclass
class NodeView:
    """What the table shows of one node."""

    id: str
    target: str
    needs: tuple[str, ...]
    status: str = "pending"
    attempt: int = 0
    worker: str = ""
    cost_usd: float = 0.0
    note: str = ""


@dataclass
class DagProgress:
    """Shows an orchestrated run's DAG as its trace records arrive.

    Attributes:
        console: Where it is drawn (stderr).
        live: Redraw in place (a terminal) instead of printing one line per change.
        phase: ``planning``, ``running``, ``merging`` or ``done``.
        nodes: The plan's nodes in plan order.
        cost_usd: The run's cost so far (planner, nodes, merge).
    """

    console: Console
    live: bool = False
    phase: str = "planning"
    nodes: dict[str, NodeView] = field(default_factory=dict[str, NodeView])
    cost_usd: float = 0.0
    _live: Live | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> DagProgress:
        if self.live:
            from rich.live import Live

            self._live = Live(self.render(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)
            self._live = None

    def _line(self, text: str) -> None:
        if self._live is None:
            self.console.print(text, highlight=False, markup=False)

    def show(self, record: Mapping[str, Any]) -> None:
        """Take one trace record of the orchestrated run (other kinds are ignored)."""
        with self._lock:
            self._apply(record)
        if self._live is not None:
            self._live.update(self.render())

    def _apply(self, record: Mapping[str, Any]) -> None:
        kind = record.get("kind")
        node = self.nodes.get(str(record.get("node", "")))
        if kind == "lm_call":
            self.cost_usd += float(record.get("cost_usd") or 0.0)
        elif kind == "plan_attempt" and record.get("problem"):
            self._line(f"plan rejected: {record['problem']}")
        elif kind == "plan":
            raw = cast("list[Mapping[str, Any]]", record.get("nodes") or [])
            for item in raw:
                target = item.get("agent") or f"capability:{item.get('capability')}"
                needs = tuple(str(d) for d in item.get("depends_on") or ())
                self.nodes[str(item["id"])] = NodeView(str(item["id"]), str(target), needs)
            self.phase = "running"
            self._line(f"plan: {len(raw)} nodes")
            for view in self.nodes.values():
                after = f" (after {', '.join(view.needs)})" if view.needs else ""
                self._line(f"  {view.id} → {view.target}{after}")
        elif kind == "node_start" and node is not None:
            node.status, node.attempt = "running", int(record.get("attempt") or 1)
            self._line(f"▶ {node.id} on {node.target} (attempt {node.attempt})")
        elif kind == "node_end" and node is not None:
            cost = float(record.get("cost_usd") or 0.0)
            node.cost_usd += cost
            self.cost_usd += cost
            node.worker = str(record.get("worker") or "")[:8]
            node.status = "done" if record.get("ok") else "failed"
            node.note = "" if record.get("ok") else str(record.get("error") or "")[:80]
            self._line(
                f"{'✓' if record.get('ok') else '✗'} {node.id} {record.get('outcome')} "
                f"${cost:.4f}{' — ' + node.note if node.note else ''}"
            )
        elif kind == "node_retry" and node is not None:
            node.status, node.note = "pending", "retrying"
        elif kind in ("node_skipped", "node_not_started") and node is not None:
            node.status, node.note = "skipped", str(record.get("reason") or "")[:80]
            self._line(f"- {node.id} skipped: {node.note}")
        elif kind in {"merge", "merge_error"}:
            self.phase = "merging"
        elif kind == "run_end":
            self.phase = "done"
            self._line(f"{record.get('outcome')}: ${float(record.get('cost_usd') or 0):.4f}")

    def render(self) -> RenderableType:
        """The table of nodes under a headline with the phase and cost so far."""
        from rich.table import Table

        table = Table(
            title=f"orchestrate · {self.phase} · ${self.cost_usd:.4f}",
            title_justify="left",
            expand=False,
        )
        for column in ("node", "agent", "after", "state", "try", "worker", "cost", "note"):
            table.add_column(column, no_wrap=column != "note")
        with self._lock:
            views = list(self.nodes.values())
        for v in views:
            table.add_row(
                v.id, v.target, ", ".join(v.needs), f"[{_STYLE[v.status]}]{v.status}[/]",
                str(v.attempt or ""), v.worker, f"${v.cost_usd:.4f}", v.note,
            )  # fmt: skip
        return table
