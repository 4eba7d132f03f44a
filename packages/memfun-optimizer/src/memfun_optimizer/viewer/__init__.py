"""The trace viewer: one run (and its child runs) as one self-contained, escaped HTML page."""

from __future__ import annotations

from memfun_optimizer.viewer._html import child_runs, render_trace_html

__all__ = ["child_runs", "render_trace_html"]
