"""The effectiveness loop: outcomes recorded in a real SQLite SkillRegistry make a skill that
keeps failing for a kind of task rank lower, with the reason in the routing decision."""

from __future__ import annotations

from pathlib import Path

from memfun_runtime import RuntimeBuilder
from memfun_skills import Scope, SkillRoot, SkillRouter, discover_skills, route_penalties

_TASK = "the CLI crashes with a KeyError stack trace, fix it"


async def test_a_skill_failing_for_a_kind_of_task_ranks_lower_with_the_reason(
    tmp_path: Path, builtins_dir: Path
) -> None:
    skills = [
        s.properties for s in discover_skills([SkillRoot(builtins_dir, Scope.BUILTIN)]).skills
    ]
    async with RuntimeBuilder().sqlite(tmp_path / "runtime.db").build() as runtime:
        registry = runtime.skills
        for outcome in ("failure", "error", "failure", "success"):
            await registry.record_invocation(
                "fix-bugs", outcome=outcome, latency=1.0, metadata={"task_kind": "fix"}
            )
        for _ in range(3):  # the same skill does well when asked questions
            await registry.record_invocation(
                "fix-bugs", outcome="success", latency=1.0, metadata={"task_kind": "ask"}
            )
        names = [s.name for s in skills]
        fix = await route_penalties(registry, names, task_kind="fix")
        ask = await route_penalties(registry, names, task_kind="ask")

    before = await SkillRouter(skills).route(_TASK, min_score=2.5)
    assert before.chosen is not None
    assert before.chosen.name == "fix-bugs"  # on words alone it wins
    assert set(fix) == {"fix-bugs"}
    assert fix["fix-bugs"].reason == "failed 3 of its last 4 fix runs"
    assert ask == {}
    old = next(m.score for m in before.matches if m.skill.name == "fix-bugs")
    # A threshold the skill passes on words alone but not with its record.
    threshold = old * 0.9
    assert (await SkillRouter(skills).route(_TASK, min_score=threshold)).chosen is not None
    after = await SkillRouter(skills, penalties=fix).route(_TASK, min_score=threshold)
    assert after.chosen is None or after.chosen.name != "fix-bugs"
    new = next(m for m in after.matches if m.skill.name == "fix-bugs")
    assert new.penalty == fix["fix-bugs"]
    assert new.score == old * fix["fix-bugs"].factor
    assert after.note is not None
    assert "'fix-bugs' ranked lower: failed 3 of its last 4 fix runs" in after.note


async def test_too_few_runs_or_mostly_successes_cost_nothing(tmp_path: Path) -> None:
    async with RuntimeBuilder().sqlite(tmp_path / "runtime.db").build() as runtime:
        registry = runtime.skills
        for outcome in ("failure", "failure"):  # two runs: not judged yet
            await registry.record_invocation(
                "fix-bugs", outcome=outcome, latency=1.0, metadata={"task_kind": "fix"}
            )
        for outcome in ("success", "success", "failure", "success"):
            await registry.record_invocation(
                "debug-tests", outcome=outcome, latency=1.0, metadata={"task_kind": "fix"}
            )
        penalties = await route_penalties(registry, ["fix-bugs", "debug-tests"], task_kind="fix")
    assert penalties == {}
