"""``memfun trace stats``: success, cost, tokens, latency and failures of stored runs."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from memfun_optimizer.stats import GroupStats, TraceStats

__all__ = ["stats"]


def _group_table(console: Console, title: str, groups: tuple[GroupStats, ...]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("", "runs", "success", "cost", "tokens", "median s", "steps", "failures"):
        table.add_column(column, justify="left" if column in ("", "failures") else "right")
    for g in groups:
        failures = ", ".join(f"{kind} {count}" for kind, count in g.failures.items())
        table.add_row(
            g.key, str(g.runs), f"{g.success_rate:.0%}", f"${g.cost_usd:.4f}", str(g.tokens),
            f"{g.median_seconds:.1f}", f"{g.mean_steps:.1f}", failures,
        )  # fmt: skip
    console.print(table)


def _render(found: TraceStats) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rate = found.succeeded / found.runs if found.runs else 0.0
    console.print(f"{found.runs} runs, {found.succeeded} succeeded ({rate:.0%})", highlight=False)
    _group_table(console, "by task kind", found.by_kind)
    _group_table(console, "by skill", found.by_skill)
    _group_table(console, "by agent", found.by_agent)
    failures = Table(title="failures")
    failures.add_column("kind")
    failures.add_column("runs", justify="right")
    for kind, count in found.failures.items():
        failures.add_row(kind, str(count))
    console.print(failures)
    sequences = Table(title="frequent tool-call sequences in successful runs")
    sequences.add_column("tools")
    sequences.add_column("runs", justify="right")
    for seq in found.sequences:
        sequences.add_row(" → ".join(seq.tools), str(seq.runs))
    console.print(sequences)


def stats(
    limit: Annotated[
        int, typer.Option(help="Analyze at most this many runs, newest first.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per task kind, skill and agent: runs, success rate, cost, tokens, latency, steps.

    Also the failure taxonomy (tool error, sandbox limit, budget exhausted, malformed model
    output, verification failed, stuck, interrupted, ...) and the tool-call sequences that
    recur in successful runs. See docs/optimizer.md.
    """
    from memfun_cli.commands.trace import read_traces
    from memfun_optimizer.stats import analyze

    found = analyze(asyncio.run(read_traces(None, limit)))
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2))
        return
    if found.runs == 0:
        typer.echo("no traces yet (runs of memfun ask/fix/eval/... are traced in the runtime)")
        return
    _render(found)
