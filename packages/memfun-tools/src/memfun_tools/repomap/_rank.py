"""PageRank over the reference graph (files are nodes, references are weighted edges).

A small power iteration in pure Python: one node per file and one edge per (referencing file,
defining file) pair. Identifiers defined in many files and dunder names make no edges.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Ranking", "TagsLike", "rank"]

Pair = tuple[str, str]  # (defining file, identifier)

_DAMPING = 0.85
_TOLERANCE = 1e-6  # per node, as networkx
_MAX_ITERATIONS = 100
_MENTION_BOOST = 10.0
_GENERIC_DEFINERS = 5
# An identifier defined in more files than this (``run``, ``setUp``) links everything to
# everything and says nothing; dunder names are protocol methods, not references.
_MAX_DEFINERS = 10


class TagsLike(Protocol):
    """What ranking needs of a file's tags."""

    @property
    def def_names(self) -> tuple[str, ...]:
        """Distinct defined names."""
        ...

    @property
    def refs(self) -> dict[str, int]:
        """Referenced identifier -> count."""
        ...


@dataclass(frozen=True, slots=True)
class Ranking:
    """Files and (file, defined name) pairs, most important first."""

    files: tuple[tuple[str, float], ...]
    definitions: tuple[tuple[str, str, float], ...]


def _factor(ident: str, definers: int, mentioned: Set[str]) -> float:
    """The weight of one reference to ``ident`` (before the sqrt of the count)."""
    if ident in mentioned:
        return _MENTION_BOOST
    if definers > _MAX_DEFINERS or (ident.startswith("__") and ident.endswith("__")):
        return 0.0
    factor = 1.0
    if ident.startswith("_"):
        factor *= 0.1
    if definers > _GENERIC_DEFINERS:
        factor *= 0.1
    return factor


def rank(
    tags: Mapping[str, TagsLike],
    *,
    mentioned_files: Set[str] = frozenset(),
    mentioned_idents: Set[str] = frozenset(),
    limit: int | None = None,
) -> Ranking:
    """Rank files and their definitions, personalized toward what the task mentions.

    Args:
        tags: Each file's tags.
        mentioned_files: Files the task mentions.
        mentioned_idents: Identifiers the task mentions.
        limit: Return at most this many definitions (the best ones).
    """
    definers: dict[str, list[str]] = defaultdict(list)
    for path, file_tags in tags.items():
        for name in file_tags.def_names:
            definers[name].append(path)
    factors = {
        # the common case first (a public name of few definers, not mentioned: 1.0)
        i: 1.0
        if len(d) <= _GENERIC_DEFINERS and i[:1] != "_" and i not in mentioned_idents
        else _factor(i, len(d), mentioned_idents)
        for i, d in definers.items()
    }
    linked = {i: f for i, f in factors.items() if f}
    edges, contributions = _edges(tags, definers, linked)
    personal = _personalization(tags, definers, mentioned_files, mentioned_idents)
    scores = _pagerank(list(tags), edges, personal)
    by_pair: dict[Pair, float] = {}
    for src, mine in contributions.items():
        share = scores[src] / sum(edges[src].values())
        for pairs, weight in mine:
            flow = weight * share
            for pair in pairs:
                by_pair[pair] = by_pair.get(pair, 0.0) + flow
    files = tuple(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])))
    return Ranking(
        files=files,
        definitions=_definitions(tags, files, by_pair, mentioned_idents, limit),
    )


def _edges(
    tags: Mapping[str, TagsLike], definers: Mapping[str, list[str]], linked: Mapping[str, float]
) -> tuple[dict[str, dict[str, float]], dict[str, list[tuple[tuple[Pair, ...], float]]]]:
    """Each file's weighted edges to the files defining what it references.

    Also each file's contributions: for each linked identifier it references, the
    (defining file, identifier) pairs its rank flows into (itself excepted) and the weight.
    References are taken in each file's own order, so the sums are the same in every process.
    """
    pairs_of: dict[str, tuple[Pair, ...]] = {}
    edges: dict[str, dict[str, float]] = {}
    contributions: dict[str, list[tuple[tuple[Pair, ...], float]]] = {}
    sqrt = math.sqrt
    for src, file_tags in tags.items():
        own = set(file_tags.def_names)
        out: dict[str, float] = {}
        mine: list[tuple[tuple[Pair, ...], float]] = []
        for ident, count in file_tags.refs.items():
            factor = linked.get(ident)
            if factor is None:
                continue
            pairs = pairs_of.get(ident)
            if pairs is None:
                pairs = pairs_of[ident] = tuple((dst, ident) for dst in definers[ident])
            if ident in own:
                pairs = tuple(pair for pair in pairs if pair[0] != src)
                if not pairs:
                    continue
            weight = sqrt(count) * factor
            for dst, _ident in pairs:
                out[dst] = out.get(dst, 0.0) + weight
            mine.append((pairs, weight))
        if out:
            edges[src] = out
            contributions[src] = mine
    return edges, contributions


def _definitions(
    tags: Mapping[str, TagsLike],
    files: tuple[tuple[str, float], ...],
    by_pair: Mapping[Pair, float],
    mentioned_idents: Set[str],
    limit: int | None,
) -> tuple[tuple[str, str, float], ...]:
    """Referenced definitions by the rank flowing into them, then the rest by file rank."""
    ranked: list[tuple[str, str, float]] = [(p, n, s) for (p, n), s in by_pair.items()]
    for ident in mentioned_idents:
        for path, file_tags in tags.items():
            if ident in file_tags.def_names:
                ranked.append((path, ident, 1.0 + by_pair.get((path, ident), 0.0)))
    ranked.sort(key=lambda item: (-item[2], item[0], item[1]))
    seen: set[tuple[str, str]] = set()
    result: list[tuple[str, str, float]] = []
    for path, name, score in ranked:
        if (path, name) not in seen:
            seen.add((path, name))
            result.append((path, name, score))
    for path, score in files:
        if limit is not None and len(result) >= limit:
            break
        for name in tags[path].def_names:
            if (path, name) not in seen:
                seen.add((path, name))
                result.append((path, name, score * 1e-3))
    return tuple(result[:limit] if limit is not None else result)


def _personalization(
    tags: Mapping[str, TagsLike],
    definers: Mapping[str, list[str]],
    mentioned_files: Set[str],
    mentioned_idents: Set[str],
) -> dict[str, float]:
    chosen: set[str] = {f for f in mentioned_files if f in tags}
    for ident in mentioned_idents:
        chosen.update(definers.get(ident, ()))
    stems = {i.lower() for i in mentioned_idents}
    if stems:
        for path in tags:
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0].lower()
            if stem in stems:
                chosen.add(path)
    if not chosen:
        return {}
    return {path: 1.0 / len(chosen) for path in chosen}


def _pagerank(
    nodes: list[str], edges: Mapping[str, Mapping[str, float]], personal: Mapping[str, float]
) -> dict[str, float]:
    if not nodes:
        return {}
    count = len(nodes)
    index = {node: i for i, node in enumerate(nodes)}
    teleport = [personal.get(n, 0.0) for n in nodes] if personal else [1.0 / count] * count
    outgoing: list[tuple[int, list[tuple[int, float]]]] = []
    for src, out in edges.items():
        total = sum(out.values())
        outgoing.append((index[src], [(index[dst], w / total) for dst, w in out.items()]))
    has_out = {i for i, _ in outgoing}
    dangling_nodes = [i for i in range(count) if i not in has_out]
    scores = [1.0 / count] * count
    for _ in range(_MAX_ITERATIONS):
        dangling = sum(scores[i] for i in dangling_nodes)
        base = 1 - _DAMPING + _DAMPING * dangling
        nxt = [base * t for t in teleport]
        for src, targets in outgoing:
            share = _DAMPING * scores[src]
            for dst, weight in targets:
                nxt[dst] += share * weight
        delta = sum(abs(a - b) for a, b in zip(nxt, scores, strict=True))
        scores = nxt
        if delta < count * _TOLERANCE:
            break
    return dict(zip(nodes, scores, strict=True))
