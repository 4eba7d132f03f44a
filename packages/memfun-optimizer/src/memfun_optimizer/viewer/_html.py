"""One run as a self-contained HTML page: a timeline of steps, a token chart, the run tree.

Everything taken from a trace is escaped (the model's output is hostile); the page fetches
nothing: its CSS, script and SVG are inline, and the script reads no trace data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import cast

from memfun_agent.traces import RunTrace
from memfun_runtime.protocols import JSONValue

__all__ = ["child_runs", "render_trace_html"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em}pre{background:#fff;border:1px solid #ddd;padding:.5em;overflow:auto;
white-space:pre-wrap;max-height:30em}.step{border-left:4px solid #4a7;padding:.3em .8em;
margin:.6em 0;background:#fff}.step.err{border-color:#c44}.meta{color:#666;font-size:.9em}
.tool.fail{color:#c44}details.run{margin-left:1.2em;border-left:2px dashed #aaa;padding-left:.6em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
"""
_SCRIPT = """
document.body.dataset.ready = "1";
document.body.dataset.scripts = String(document.scripts.length);
document.getElementById("toggle").addEventListener("click", function () {
  var all = document.querySelectorAll("details");
  var open = !all[0] || !all[0].open;
  all.forEach(function (d) { d.open = open; });
});
"""


def _text(value: JSONValue) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _number(value: JSONValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


@dataclass
class _Step:
    record: Mapping[str, JSONValue]
    lm_calls: list[Mapping[str, JSONValue]] = field(default_factory=list[Mapping[str, JSONValue]])
    tools: list[Mapping[str, JSONValue]] = field(default_factory=list[Mapping[str, JSONValue]])

    @property
    def tokens(self) -> int:
        return int(
            sum(
                _number(c.get("input_tokens")) + _number(c.get("output_tokens"))
                for c in self.lm_calls
            )
        )

    @property
    def cost(self) -> float:
        return sum(_number(c.get("cost_usd")) for c in self.lm_calls)


def _steps(trace: RunTrace) -> tuple[list[_Step], list[Mapping[str, JSONValue]]]:
    """Model and tool calls grouped with the step they led to; the other records apart."""
    steps: list[_Step] = []
    calls: list[Mapping[str, JSONValue]] = []
    tools: list[Mapping[str, JSONValue]] = []
    others: list[Mapping[str, JSONValue]] = []
    for record in trace.records:
        kind = record.get("kind")
        if kind == "lm_call":
            calls.append(record)
        elif kind == "tool_call":
            tools.append(record)
        elif kind == "step":
            steps.append(_Step(record, calls, tools))
            calls, tools = [], []
        else:
            others.append(record)
    if calls or tools:
        steps.append(_Step({"kind": "step", "iteration": "-", "reasoning": "(after the last step)"},
                           calls, tools))  # fmt: skip
    return steps, others


def _rest(record: Mapping[str, JSONValue]) -> str:
    rest = {k: v for k, v in record.items() if k not in ("seq", "kind")}
    return json.dumps(rest, default=str)[:2000]


def _chart(steps: Sequence[_Step]) -> str:
    """Tokens per step as inline SVG bars."""
    if not steps:
        return ""
    width, height, gap = 600, 120, 2
    top = max((s.tokens for s in steps), default=0) or 1
    bar = max(width / len(steps) - gap, 1)
    bars: list[str] = []
    for i, step in enumerate(steps):
        h = height * step.tokens / top
        bars.append(
            f'<rect x="{i * (bar + gap):.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}" fill="#4a7"><title>step {i + 1}: {step.tokens} tokens</title></rect>'
        )
    return (
        f'<svg id="tokens" role="img" aria-label="tokens per step" width="{width}" '
        f'height="{height + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>'
    )


def _step_html(number: int, step: _Step) -> str:
    record = step.record
    error = _text(record.get("error"))
    parts = [
        f'<div class="step{" err" if error else ""}" data-step="{number}">',
        f"<h3>step {escape(_text(record.get('iteration')) or str(number))}</h3>",
        f'<p class="meta">{step.tokens} tokens, ${step.cost:.4f}, '
        f"{_number(record.get('duration')):.2f} s</p>",
        f'<p class="reasoning">{escape(_text(record.get("reasoning")))}</p>',
    ]
    if record.get("code"):
        parts.append(f'<pre class="code">{escape(_text(record.get("code")))}</pre>')
    if record.get("output"):
        parts.append(f'<pre class="output">{escape(_text(record.get("output")))}</pre>')
    if error:
        parts.append(f'<pre class="error">{escape(error)}</pre>')
    for tool in step.tools:
        ok = tool.get("ok") is not False
        detail = _text(tool.get("result") if ok else tool.get("error"))
        parts.append(
            f'<details class="tool{"" if ok else " fail"}"><summary>tool '
            f"{escape(_text(tool.get('tool')))} {escape(_text(tool.get('arguments'))[:200])}"
            f"</summary><pre>{escape(detail)}</pre></details>"
        )
    for call in step.lm_calls:
        parts.append(
            f'<details class="lm"><summary>{escape(_text(call.get("role")))} model call '
            f"{escape(_text(call.get('model')))}: {int(_number(call.get('input_tokens')))} in, "
            f"{int(_number(call.get('output_tokens')))} out</summary>"
            f"<pre>{escape(_text(call.get('reply')))}</pre></details>"
        )
    parts.append("</div>")
    return "".join(parts)


def _run_html(trace: RunTrace, children: Mapping[str, Sequence[RunTrace]], depth: int) -> str:
    steps, others = _steps(trace)
    usage = ", ".join(f"{escape(k)}={escape(_text(v))}" for k, v in trace.usage.items())
    agent = _text(trace.metadata.get("agent")) or _text(trace.metadata.get("kind")) or "run"
    body = [
        f'<section class="run" id="run-{escape(trace.run_id)}" data-run="{escape(trace.run_id)}">',
        f"<p><b>{escape(agent)}</b> {escape(trace.run_id)}: <b>{escape(trace.outcome)}</b>"
        f" — model {escape(trace.model)}</p>",
        f'<p class="meta">{usage}</p>',
        f'<p class="task">{escape(trace.task)}</p>',
    ]
    if trace.error:
        body.append(f'<pre class="error">{escape(trace.error)}</pre>')
    body.append(_chart(steps))
    body.extend(_step_html(i + 1, step) for i, step in enumerate(steps))
    if others:
        rows = "".join(
            f"<tr><td>{escape(_text(r.get('kind')))}</td><td>{escape(_rest(r))}</td></tr>"
            for r in others
        )
        body.append(f"<details><summary>other records</summary><table>{rows}</table></details>")
    for child in children.get(trace.run_id, ()):
        if depth < 8:  # noqa: PLR2004 - deeper trees are cut (delegation depth is limited too)
            body.append(
                f'<details class="run" open><summary>child run {escape(child.run_id)} '
                f"({escape(child.outcome)})</summary>{_run_html(child, children, depth + 1)}"
                "</details>"
            )
    body.append("</section>")
    return "".join(body)


def child_runs(traces: Sequence[RunTrace]) -> dict[str, list[RunTrace]]:
    """Parent run id -> its child runs (delegations and orchestration nodes), oldest first."""
    by_id = {t.run_id: t for t in traces}
    found: dict[str, list[RunTrace]] = {}
    for trace in sorted(traces, key=lambda t: t.started_at):
        parent = trace.metadata.get("parent_run_id")
        if isinstance(parent, str) and parent:
            found.setdefault(parent, []).append(trace)
    for trace in traces:
        listed = trace.metadata.get("children")
        if isinstance(listed, list):
            mine = found.setdefault(trace.run_id, [])
            for run_id in cast("list[JSONValue]", listed):
                child = by_id.get(str(run_id))
                if child is not None and child not in mine:
                    mine.append(child)
    return found


def render_trace_html(
    trace: RunTrace, children: Mapping[str, Sequence[RunTrace]] | None = None
) -> str:
    """The whole page for ``trace`` and its child runs (see :func:`child_runs`)."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>memfun run {escape(trace.run_id)}</title><style>{_CSS}</style></head><body>"
        f'<h1>Run {escape(trace.run_id)}</h1><button id="toggle">expand / collapse all</button>'
        f"{_run_html(trace, children or {}, 0)}<script>{_SCRIPT}</script></body></html>"
    )
