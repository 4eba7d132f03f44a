"""Ranking: the same in every process whatever the hash seed; the build leaves the GC as it was."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_tools import Workspace
from memfun_tools.repomap import RepoMap

_RANK = """
import json, random
from dataclasses import dataclass
from memfun_tools.repomap._rank import rank

@dataclass
class Tags:
    def_names: tuple[str, ...]
    refs: dict[str, int]

pick = random.Random(7)
names = [f"name{i}" for i in range(400)] + [f"_private{i}" for i in range(100)]
tags = {}
for f in range(60):
    own = tuple(pick.sample(names, 12))
    refs = {n: pick.randint(1, 9) for n in pick.sample(names, 80)}
    tags[f"pkg/mod{f}.py"] = Tags(own, refs)
ranking = rank(tags, mentioned_idents={"name3"}, limit=300)
print(json.dumps([[p, repr(s)] for p, s in ranking.files] + [[p, n, repr(s)] for p, n, s in ranking.definitions]))
"""


def _ranked(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", _RANK], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_scores_do_not_depend_on_the_hash_seed() -> None:
    first = _ranked("1")
    assert '"pkg/mod' in first
    for seed in ("2", "3", "4", "5"):
        assert _ranked(seed) == first, f"PYTHONHASHSEED={seed} ranks differently"


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_garbage_collector_is_as_it_was_after_a_build(
    tmp_path: Path, enabled: bool
) -> None:
    (tmp_path / "a.py").write_text("def helper():\n    return 1\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from a import helper\n\nhelper()\n", encoding="utf-8")
    repo_map = RepoMap(Workspace(tmp_path), cache_path=tmp_path / "cache.sqlite3")
    try:
        if not enabled:
            gc.disable()
        result = await repo_map.build()
        assert "helper" in result.text
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
        repo_map.close()
