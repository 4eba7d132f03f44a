"""``memfun skill stats``: the invocations recorded in the runtime's skill registry."""

from __future__ import annotations

import time
from typing import Any, cast

from memfun_core.config import MemfunConfig

__all__ = ["collect_stats", "render_stats"]


async def collect_stats(config: MemfunConfig, *, name: str | None, limit: int) -> dict[str, Any]:
    """Aggregates per skill (every skill with a record), and recent invocations.

    Args:
        config: The configuration (its runtime tier holds the registry).
        name: Only this skill (its recent invocations are listed).
        limit: Recent invocations listed per skill.
    """
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(config).build() as runtime:
        registry = runtime.skills
        names = [name] if name else [version.name for version in await registry.list()]
        skills: list[dict[str, Any]] = []
        for skill in names:
            summary = await registry.stats(skill)
            recent = await registry.invocations(skill, limit=limit)
            if not summary.invocations and name is None:
                continue
            skills.append({
                "skill": skill,
                "invocations": summary.invocations,
                "successes": summary.successes,
                "failures": summary.failures,
                "errors": summary.errors,
                "success_rate": round(summary.success_rate, 4),
                "mean_seconds": round(summary.mean_latency, 3),
                "total_tokens": summary.total_tokens,
                "total_cost_usd": round(summary.total_cost, 6),
                "recent": [
                    {
                        "id": record.id,
                        "version": record.version,
                        "outcome": record.outcome,
                        "seconds": round(record.latency, 3),
                        "tokens": record.tokens,
                        "cost_usd": record.cost,
                        "recorded_at": record.recorded_at,
                        "metadata": dict(record.metadata),
                    }
                    for record in recent
                ],
            })  # fmt: skip
    return {"tier": config.runtime.tier, "skills": skills}


def render_stats(data: dict[str, Any]) -> None:
    """Print :func:`collect_stats`'s object as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    skills: list[dict[str, Any]] = data["skills"]
    if not skills:
        console.print(f"no skill invocations recorded (runtime tier {data['tier']})")
        return
    table = Table(title=f"Skill invocations (runtime tier {data['tier']})")
    for column in ("skill", "runs", "ok", "failed", "errors", "mean s", "tokens", "cost $"):
        table.add_column(column, justify="left" if column == "skill" else "right")
    for row in skills:
        table.add_row(
            f"/{row['skill']}",
            str(row["invocations"]),
            str(row["successes"]),
            str(row["failures"]),
            str(row["errors"]),
            f"{row['mean_seconds']:.2f}",
            str(row["total_tokens"]),
            f"{row['total_cost_usd']:.4f}",
        )
    console.print(table)
    if len(skills) != 1:
        return
    recent = Table(title=f"Recent invocations of /{skills[0]['skill']}")
    for column in ("when", "outcome", "s", "tokens", "route", "refused"):
        recent.add_column(column)
    for record in skills[0]["recent"]:
        metadata: dict[str, Any] = record["metadata"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["recorded_at"]))
        refused: Any = metadata.get("refused")
        recent.add_row(
            when,
            record["outcome"],
            f"{record['seconds']:.2f}",
            str(record["tokens"]),
            str(metadata.get("route", "")),
            str(len(cast("list[Any]", refused))) if isinstance(refused, list) else "0",
        )
    console.print(recent)
