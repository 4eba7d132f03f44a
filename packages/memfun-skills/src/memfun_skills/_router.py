"""Routing a free-form task to skills.

BM25 over name and description, an optional caller-supplied LLM tie-break, and the
``/name`` bypass.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from memfun_core.errors import NotFoundError
from memfun_skills._effectiveness import RoutePenalty
from memfun_skills._model import SkillProperties

__all__ = [
    "DEFAULT_MIN_SCORE",
    "RouteDecision",
    "RouteMatch",
    "SkillRouter",
    "TieBreak",
    "parse_slash_command",
    "tokenize",
]

DEFAULT_MIN_SCORE = 2.5
"""The BM25 score below which a free-form task activates no skill (``[skills] min_score``).

Measured on the built-in skills: tasks that name what a skill does score 3 to 16, tasks
that merely share a word with a description (``where is X configured?`` against ``ask``)
score under 2, unrelated tasks 0.
"""

TieBreak = Callable[[str, Sequence[SkillProperties]], Awaitable[str | None]]
"""``async (task, candidates) -> chosen name or None``: typically a small LLM call."""

_STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how i in is it its me my of on or please "
        "should so that the this to use used user when where which who why will with you your "
        "what want need asks asked",
    )
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_SLASH = re.compile(r"^\s*/([^\s/]+)(?:\s+(.*))?$", re.DOTALL)


def _stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to match 'tests'/'testing'/'tested'."""
    for suffix, replacement, min_length in (
        ("ies", "y", 5),
        ("ing", "", 6),
        ("ed", "", 5),
        ("es", "", 5),
        ("s", "", 4),
    ):
        if len(word) >= min_length and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def tokenize(text: str) -> list[str]:
    """Lowercased, stemmed word tokens without stop words (hyphenated names split)."""
    return [_stem(token) for token in _TOKEN.findall(text.lower()) if token not in _STOP_WORDS]


def parse_slash_command(text: str) -> tuple[str, str] | None:
    """Split ``"/review-code src/"`` into ``("review-code", "src/")``; ``None`` otherwise."""
    match = _SLASH.match(text)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip()


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A skill and its relevance to the task (higher is better).

    ``score`` is the BM25 score times the ``penalty``'s factor when the skill's recorded
    outcomes for this kind of task are poor (see :func:`~memfun_skills.route_penalties`).
    """

    skill: SkillProperties
    score: float
    penalty: RoutePenalty | None = None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """What the router decided.

    Attributes:
        chosen: The skill to activate, or ``None`` when nothing is relevant.
        matches: The ranked candidates, best first.
        method: ``slash`` (the ``/name`` bypass), ``lexical``, ``llm`` (tie-break) or
            ``none``.
        arguments: The text after ``/name`` for the slash route, else the whole task.
        note: Why the tie-break was not followed, when it was asked and answered badly.
    """

    chosen: SkillProperties | None
    matches: tuple[RouteMatch, ...]
    method: Literal["slash", "lexical", "llm", "none"]
    arguments: str
    note: str | None = None


class SkillRouter:
    """Ranks skills for a task with Okapi BM25 over name (counted twice) and description.

    Example:
        >>> router = SkillRouter(skill.properties for skill in catalog.skills)  # doctest: +SKIP
        >>> decision = await router.route("review my staged changes")  # doctest: +SKIP
    """

    def __init__(
        self,
        skills: Iterable[SkillProperties],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        penalties: Mapping[str, RoutePenalty] | None = None,
    ):
        self._skills = tuple(skills)
        self._penalties = dict(penalties or {})
        self._by_name = {skill.name: skill for skill in self._skills}
        self._k1 = k1
        self._b = b
        self._docs = [
            Counter(tokenize(skill.name.replace("-", " ")) * 2 + tokenize(skill.description))
            for skill in self._skills
        ]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._average = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        frequency: Counter[str] = Counter()
        for doc in self._docs:
            frequency.update(doc.keys())
        total = len(self._docs)
        self._idf = {
            term: math.log(1 + (total - count + 0.5) / (count + 0.5))
            for term, count in frequency.items()
        }

    def rank(self, task: str, *, limit: int = 5) -> list[RouteMatch]:
        """The ``limit`` most relevant skills with a positive score, best first."""
        terms = set(tokenize(task))
        matches: list[RouteMatch] = []
        for skill, doc, length in zip(self._skills, self._docs, self._lengths, strict=True):
            score = 0.0
            for term in terms & doc.keys():
                tf = doc[term]
                norm = tf + self._k1 * (1 - self._b + self._b * length / (self._average or 1.0))
                score += self._idf[term] * tf * (self._k1 + 1) / norm
            if score > 0:
                penalty = self._penalties.get(skill.name)
                factor = penalty.factor if penalty is not None else 1.0
                matches.append(RouteMatch(skill, score * factor, penalty))
        matches.sort(key=lambda match: (-match.score, match.skill.name))
        return matches[:limit]

    async def route(
        self,
        task: str,
        *,
        limit: int = 3,
        tie_break: TieBreak | None = None,
        tie_margin: float = 0.15,
        min_score: float = 0.0,
    ) -> RouteDecision:
        """Choose the skill for ``task``.

        ``/name rest`` bypasses ranking (unknown names raise NotFoundError). Otherwise the
        best BM25 match wins if it scores at least ``min_score`` (below it nothing is
        chosen and the decision's note says why); when ``tie_break`` is given and the
        runners-up score within ``tie_margin`` (relative) of the best, it picks among those
        close candidates.

        Raises:
            NotFoundError: ``/name`` names no known skill.
        """
        slash = parse_slash_command(task)
        if slash is not None:
            name, arguments = slash
            skill = self._by_name.get(name)
            if skill is None:
                raise NotFoundError("skill", name, suggestions=self._suggest(name))
            return RouteDecision(skill, (RouteMatch(skill, math.inf),), "slash", arguments)
        matches = tuple(self.rank(task, limit=limit))
        if not matches:
            return RouteDecision(None, (), "none", task)
        best = matches[0]
        if best.score < min_score:
            note = (
                f"the best match, {best.skill.name!r}, scored {best.score:.2f}, "
                f"below the threshold {min_score:g}"
            )
            return RouteDecision(None, matches, "none", task, _with_penalties(note, matches))
        close = [m for m in matches if m.score >= best.score * (1 - tie_margin)]
        if tie_break is None or len(close) < 2:  # noqa: PLR2004 - a tie needs two
            return RouteDecision(
                best.skill, matches, "lexical", task, _with_penalties(None, matches)
            )
        answer = await tie_break(task, [m.skill for m in close])
        picked = next((m.skill for m in close if m.skill.name == answer), None)
        if picked is None:
            note = f"the tie-break answered {answer!r}, not one of the candidates; kept the best"
            return RouteDecision(best.skill, matches, "lexical", task, note)
        return RouteDecision(picked, matches, "llm", task)

    def _suggest(self, name: str) -> tuple[str, ...]:
        return tuple(match.skill.name for match in self.rank(name.replace("-", " "), limit=3))


def _with_penalties(note: str | None, matches: Sequence[RouteMatch]) -> str | None:
    """``note`` plus why each penalised candidate ranks lower (``/fixer ranked lower: ...``)."""
    reasons = [f"{m.skill.name!r} ranked lower: {m.penalty.reason}" for m in matches if m.penalty]
    parts = ([note] if note else []) + reasons
    return "; ".join(parts) or None
