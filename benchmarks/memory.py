"""Benchmark: memory retrieval over 10,000 learnings (budget: median under 20 ms).

Run: ``uv run python benchmarks/memory.py [--count 10000] [--queries 200]``

Writes a ``MEMORY.md`` of generated learnings (words drawn from a Zipf-like vocabulary, as
in prose), indexes it, then times, per task-like query of 4 to 10 words:

- ``MemoryStore.search`` (BM25 through SQLite FTS5, top 10), including the content-hash
  check of the file that every read makes;
- ``MemoryStore.recall`` (the same search, fitted to the 2 KB / 8-item budget a run gets);
- the baseline measured in the same run: a plain ``LIKE`` scan of the same table, ranked by
  how many of the query's words each learning contains (``ORDER BY`` the sum of ``LIKE``s),
  top 10.

Also prints the one-off cost of indexing the file (what a hand edit of ``MEMORY.md`` costs
the next read).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from memfun_optimizer.memory import MemoryStore
from memfun_optimizer.memory._file import learning_id, render_item, template
from memfun_optimizer.memory._index import query_terms

BUDGET_MS = 20.0
_KINDS = ("worked", "fact", "preference")
_CODE_WORDS = [
    "tests",
    "parser",
    "config",
    "database",
    "migration",
    "cache",
    "deploy",
    "docker",
    "build",
    "lint",
    "format",
    "module",
    "function",
    "class",
    "import",
    "error",
    "exception",
    "retry",
    "timeout",
    "logging",
    "settings",
    "schema",
    "api",
    "client",
    "server",
    "request",
    "response",
    "token",
    "session",
    "user",
    "admin",
    "queue",
    "worker",
    "branch",
    "commit",
    "release",
    "version",
    "dependency",
    "package",
    "install",
    "script",
    "command",
    "makefile",
    "pytest",
    "ruff",
    "mypy",
    "pyright",
]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(size)}
    return _CODE_WORDS + sorted(made)


def _sentence(rng: random.Random, words: list[str], weights: list[float], n: int) -> str:
    return " ".join(rng.choices(words, weights=weights, k=n)).capitalize() + "."


def _timed(queries: list[str], action: Callable[[str], object]) -> list[float]:
    timings: list[float] = []
    for query in queries:
        start = time.perf_counter()
        action(query)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _like_scan(db: sqlite3.Connection, query: str) -> list[tuple[str, str]]:
    """The baseline: every row scanned, ranked by the number of query words it contains."""
    terms = query_terms(query)[:32]
    if not terms:
        return []
    score = " + ".join("(text LIKE ?)" for _ in terms)
    sql = f"SELECT id, text FROM learnings WHERE ({score}) > 0 ORDER BY ({score}) DESC LIMIT 10"
    patterns = [f"%{term}%" for term in terms]
    return db.execute(sql, (*patterns, *patterns)).fetchall()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(17)
    words = _vocabulary(rng, 3000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    rng.shuffle(weights)  # common words are not all coding words

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ".memfun"
        folder.mkdir()
        items: list[str] = []
        for _ in range(args.count):
            text = _sentence(rng, words, weights, rng.randint(6, 18))
            items.append(render_item(learning_id(text), rng.choice(_KINDS), text))
        (folder / "MEMORY.md").write_text(template("project") + "\n".join(items) + "\n")
        queries = [_sentence(rng, words, weights, rng.randint(4, 10)) for _ in range(args.queries)]

        with MemoryStore(folder / "MEMORY.md", folder / "memory.db") as store:
            start = time.perf_counter()
            indexed = store.rebuild()
            build_ms = (time.perf_counter() - start) * 1000
            assert indexed >= args.count * 0.99, indexed  # a few generated texts repeat
            store.search("warm up")
            search = _timed(queries, lambda q: store.search(q, limit=10))
            recall = _timed(queries, lambda q: store.recall(q, budget_bytes=2048, max_items=8))
            with sqlite3.connect(folder / "memory.db") as db:
                like = _timed(queries, lambda q: _like_scan(db, q))

    rows = [
        ("memfun search (FTS5 BM25, top 10, hash check)", search),
        ("memfun recall (2 KB / 8 items budget)", recall),
        ("baseline: LIKE scan ranked by words matched", like),
    ]
    print(f"\nRetrieval over {indexed:,} learnings, {len(queries)} queries (ms per query)\n")
    print(f"| {'what':<47} | {'median':>7} | {'p95':>7} | {'max':>7} |")
    print(f"|{'-' * 49}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for label, timings in rows:
        p95 = sorted(timings)[int(0.95 * (len(timings) - 1))]
        print(
            f"| {label:<47} | {statistics.median(timings):>7.2f} | {p95:>7.2f} | "
            f"{max(timings):>7.2f} |"
        )
    ours = statistics.median(search)
    print(
        f"\nspeed-up of search over the LIKE scan (medians): {statistics.median(like) / ours:.1f}x"
    )
    print(f"indexing the whole file once (a hand edit's next read): {build_ms:,.0f} ms")
    verdict = "within" if ours < BUDGET_MS else "OVER"
    print(f"budget {BUDGET_MS:.0f} ms median: {verdict} ({ours:.2f} ms)")
    return 0 if ours < BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
