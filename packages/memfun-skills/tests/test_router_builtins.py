"""Automatic activation: the router picks the right built-in skill from its description alone.

The built-in skills (``skills/``) are ranked against plain task phrasings, with the default
threshold ``memfun ask/fix/...`` and chat use; an unrelated task activates nothing.
"""

from __future__ import annotations

import pytest

from memfun_skills import (
    DEFAULT_MIN_SCORE,
    Scope,
    SkillRoot,
    SkillRouter,
    builtin_skills_dir,
    discover_skills,
)

PHRASINGS = {
    "the parser crashes with a KeyError on empty input, please fix it": "fix-bugs",
    "review my staged changes before I commit": "review-code",
    "write unit tests for the tokenizer module": "generate-tests",
    "walk me through how the scheduler works": "explain-code",
    "clean up and simplify the config loader, it has a lot of duplication": "refactor",
    "audit this service for SQL injection and hard-coded secrets": "security-audit",
    "give me an overview of the architecture of this repository": "analyze-code",
    "add tests to improve the coverage of utils.py": "generate-tests",
    "split this huge function into smaller ones without changing behaviour": "refactor",
    "Review the uncommitted changes for correctness, security and readability.": "review-code",
}
UNRELATED = (
    "what is the weather in Paris tomorrow",
    "book a table for two at an Italian restaurant",
    "translate this poem into French",
)


@pytest.fixture(scope="module")
def router() -> SkillRouter:
    folder = builtin_skills_dir()
    assert folder is not None
    catalog = discover_skills([SkillRoot(folder, Scope.BUILTIN)])
    assert len(catalog.skills) >= 8
    return SkillRouter(skill.properties for skill in catalog.skills)


async def test_the_right_builtin_skill_for_at_least_8_of_10_phrasings(router: SkillRouter) -> None:
    right = []
    for task, wanted in PHRASINGS.items():
        decision = await router.route(task, min_score=DEFAULT_MIN_SCORE)
        chosen = decision.chosen.name if decision.chosen is not None else None
        right.append(chosen == wanted)
    assert sum(right) >= 8, [
        (task, wanted)
        for (task, wanted), ok in zip(PHRASINGS.items(), right, strict=True)
        if not ok
    ]


@pytest.mark.parametrize("task", UNRELATED)
async def test_an_unrelated_task_activates_no_skill(router: SkillRouter, task: str) -> None:
    decision = await router.route(task, min_score=DEFAULT_MIN_SCORE)
    assert decision.chosen is None
    assert decision.method == "none"


async def test_a_weak_match_is_below_the_threshold_and_says_so(router: SkillRouter) -> None:
    task = "where is the database url configured?"  # shares one word with `ask`
    assert router.rank(task)  # it does match something...
    decision = await router.route(task, min_score=DEFAULT_MIN_SCORE)
    assert decision.chosen is None  # ...too weakly to activate it
    assert decision.note is not None
    assert "below the threshold" in decision.note
    assert (await router.route(task)).chosen is not None  # no threshold: the old behaviour
