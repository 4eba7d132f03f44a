"""Routing tasks to skills: BM25 ranking, the LLM tie-break, the /name bypass."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from memfun_core.errors import NotFoundError
from memfun_skills import Scope, SkillProperties, SkillRoot, discover_skills
from memfun_skills._router import SkillRouter, parse_slash_command, tokenize
from memfun_skills.testing import write_skill


@pytest.fixture
def router(builtins_dir: Path) -> SkillRouter:
    catalog = discover_skills([SkillRoot(builtins_dir, Scope.BUILTIN)])
    return SkillRouter(skill.properties for skill in catalog.skills)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("please review my staged changes before I commit", "review-code"),
        ("write unit tests for the config parser", "generate-tests"),
        ("is this endpoint vulnerable to SQL injection?", "security-audit"),
        ("explain how the scheduler function works", "explain-code"),
        ("the CLI crashes with a KeyError stack trace, fix it", "fix-bugs"),
        ("clean up this module and reduce duplication", "refactor"),
        ("give me an overview of the architecture of this repository", "analyze-code"),
        ("where is the database URL configured?", "ask"),
    ],
)
async def test_builtins_route_lexically(router: SkillRouter, task: str, expected: str) -> None:
    decision = await router.route(task)
    assert decision.method == "lexical"
    assert decision.chosen is not None
    assert decision.chosen.name == expected, [(m.skill.name, m.score) for m in decision.matches]


async def test_nothing_relevant(router: SkillRouter) -> None:
    decision = await router.route("zzzz qqqq")
    assert decision.chosen is None
    assert decision.method == "none"


async def test_slash_bypasses_ranking(router: SkillRouter) -> None:
    decision = await router.route("/ask src/ what is this?")
    assert decision.method == "slash"
    assert decision.chosen is not None
    assert decision.chosen.name == "ask"
    assert decision.arguments == "src/ what is this?"
    with pytest.raises(NotFoundError) as caught:
        await router.route("/review-cod x")
    assert "review-code" in caught.value.suggestions


def _twins(tmp_path: Path) -> SkillRouter:
    root = tmp_path / "skills"
    write_skill(root, "pdf-fill", "Work with PDF documents and forms.")
    write_skill(root, "pdf-read", "Work with PDF documents and pages.")
    write_skill(root, "excel", "Spreadsheets.")
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)])
    return SkillRouter(skill.properties for skill in catalog.skills)


async def test_tie_break_picks_among_close_candidates(tmp_path: Path) -> None:
    router = _twins(tmp_path)
    seen: list[tuple[str, list[str]]] = []

    async def scripted_llm(task: str, candidates: Sequence[SkillProperties]) -> str | None:
        seen.append((task, [c.name for c in candidates]))
        return "pdf-read"

    decision = await router.route("work with pdf documents", tie_break=scripted_llm)
    assert seen == [("work with pdf documents", ["pdf-fill", "pdf-read"])]
    assert decision.method == "llm"
    assert decision.chosen is not None
    assert decision.chosen.name == "pdf-read"


async def test_tie_break_with_a_bad_answer_is_noted(tmp_path: Path) -> None:
    router = _twins(tmp_path)

    async def confused_llm(task: str, candidates: Sequence[SkillProperties]) -> str | None:
        return "excel"

    decision = await router.route("work with pdf documents", tie_break=confused_llm)
    assert decision.method == "lexical"
    assert decision.chosen is not None
    assert decision.chosen.name == "pdf-fill"
    assert decision.note is not None
    assert "excel" in decision.note


async def test_no_tie_break_when_one_clearly_wins(tmp_path: Path) -> None:
    router = _twins(tmp_path)

    async def never(task: str, candidates: Sequence[SkillProperties]) -> str | None:
        raise AssertionError("should not be asked")

    decision = await router.route("spreadsheets", tie_break=never)
    assert decision.chosen is not None
    assert decision.chosen.name == "excel"


def test_helpers() -> None:
    assert parse_slash_command("  /review-code src/ ") == ("review-code", "src/")
    assert parse_slash_command("/ask") == ("ask", "")
    assert parse_slash_command("review /code") is None
    assert parse_slash_command("/usr/bin/python is slow") is None
    assert tokenize("Testing the tests, tested!") == ["test", "test", "test"]
