"""Benchmark: discovery of 2,000 generated skills (budget: under 300 ms).

Run: ``uv run python benchmarks/skills_discovery.py [--count 2000] [--repeat 5]``

Prints a table comparing Memfun's discovery (frontmatter only, lenient, with precedence and
shadowing) with a baseline measured in the same run: the reference library skills-ref's
``read_properties`` over the same folders (it reads whole files and parses with strictyaml).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from memfun_skills import discover_skills, validate_skill
from memfun_skills._discovery import Scope, SkillRoot
from memfun_skills.testing import generate_skill_tree

BUDGET_MS = 300.0


def _best_of(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    timings: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return min(timings), statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "skills"
        folders = generate_skill_tree(root, args.count)
        roots = (SkillRoot(root, Scope.PROJECT),)
        catalog = discover_skills(roots)
        assert len(catalog.skills) == args.count, (len(catalog.skills), catalog.skipped[:3])

        rows: list[tuple[str, float, float]] = []
        best, median = _best_of(args.repeat, lambda: discover_skills(roots))
        rows.append(("memfun discover_skills (frontmatter only)", best, median))
        try:
            import skills_ref
        except ImportError:
            print("skills-ref is not installed (uv sync --group dev): no baseline")
        else:
            best, median = _best_of(
                max(1, args.repeat // 2),
                lambda: [skills_ref.read_properties(folder) for folder in folders],
            )
            rows.append(("baseline: skills-ref read_properties", best, median))
        sample = folders[:200]
        best, median = _best_of(1, lambda: [validate_skill(folder) for folder in sample])
        scale = args.count / len(sample)
        rows.append(("memfun validate_skill, strict (x from 200)", best * scale, median * scale))

    print(f"\nDiscovery of {args.count} skills (ms; best and median of runs)\n")
    print(f"| {'what':<45} | {'best ms':>9} | {'median ms':>9} |")
    print(f"|{'-' * 47}|{'-' * 11}|{'-' * 11}|")
    for label, best, median in rows:
        print(f"| {label:<45} | {best:>9.1f} | {median:>9.1f} |")
    ours = rows[0][1]
    if len(rows) > 2:
        print(f"\nspeed-up over the baseline: {rows[1][1] / ours:.1f}x")
    verdict = "within" if ours < BUDGET_MS else "OVER"
    print(f"budget {BUDGET_MS:.0f} ms: {verdict} ({ours:.1f} ms)")
    return 0 if ours < BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
