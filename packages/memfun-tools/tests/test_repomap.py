from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from memfun_core.errors import CorruptDataError, ValidationError
from memfun_tools import Workspace
from memfun_tools.repomap import RepoMap
from memfun_tools.repomap._languages import grammar_for
from memfun_tools.repomap._scan import choose_workers
from memfun_tools.repomap._tags import extract_tags

SAMPLES: dict[str, tuple[str, str, set[str], set[str]]] = {
    # language: (file name, source, expected definitions, expected references)
    "python": (
        "m.py",
        "class Shape(Base):\n    def area(self):\n        return helper(1)\n",
        {"Shape", "area"},
        {"helper", "Base"},
    ),
    "javascript": (
        "m.js",
        "class Shape { area() { return helper(1); } }\nfunction build() { return new Shape(); }\n",
        {"Shape", "area", "build"},
        {"helper"},
    ),
    "typescript": (
        "m.ts",
        "interface Sized { size: number }\nclass Shape implements Sized {\n"
        "  size = 1;\n  area(): number { return helper(1); }\n}\n"
        "type Alias = Shape;\nconst make = (): Shape => new Shape();\n",
        {"Sized", "Shape", "area", "Alias", "make"},
        {"helper", "Shape"},
    ),
    "tsx": (
        "m.tsx",
        "function App(): JSX.Element { return render(<div/>); }\n",
        {"App"},
        {"render"},
    ),
    "go": (
        "m.go",
        "package m\n\ntype Shape struct{}\n\nfunc (s Shape) Area() int { return helper(1) }\n"
        "func Build() Shape { return Shape{} }\n",
        {"Shape", "Area", "Build"},
        {"helper"},
    ),
    "rust": (
        "m.rs",
        "struct Shape;\ntrait Sized2 { fn size(&self); }\n"
        "impl Shape { fn area(&self) -> i32 { helper(1) } }\n",
        {"Shape", "Sized2", "area"},
        {"helper"},
    ),
    "java": (
        "M.java",
        "class Shape { int area() { return helper(1); } }\ninterface Sized {}\n",
        {"Shape", "area", "Sized"},
        {"helper"},
    ),
    "c": (
        "m.c",
        "struct shape { int w; };\ntypedef int size_t2;\nint area(void) { return helper(1); }\n",
        {"shape", "area", "size_t2"},
        {"helper"},
    ),
    "cpp": (
        "m.cpp",
        "class Shape { public: int area() { return helper(1); } };\n"
        "int build() { Shape s; return s.area(); }\n",
        {"Shape", "build"},
        {"helper", "area", "Shape"},
    ),
    "ruby": (
        "m.rb",
        "module Geo\n  class Shape\n    def area\n      helper(1)\n    end\n  end\nend\n",
        {"Geo", "Shape", "area"},
        {"helper"},
    ),
}


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_tags_for_every_language(language: str) -> None:
    _name, source, defs, refs = SAMPLES[language]
    tags = extract_tags(grammar_for(language), source.encode())
    names = {d.name for d in tags.defs}
    assert defs <= names, names
    assert refs <= set(tags.refs), tags.refs
    first = min(tags.defs, key=lambda d: d.line)
    assert first.text.strip()
    assert first.line >= 1


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    _write(
        root,
        {
            "billing/invoice.py": """
                class Invoice:
                    def compute_total(self, lines):
                        return sum(line.amount for line in lines)
            """,
            "billing/tax.py": """
                def apply_tax(total):
                    return total * 1.2
            """,
            "utils/log.py": """
                def log_event(name):
                    print(name)
            """,
            "app/main.py": """
                from utils.log import log_event
                def run():
                    log_event("start")
                    log_event("stop")
            """,
            "app/report.py": """
                from utils.log import log_event
                def report():
                    log_event("report")
            """,
            "app/cli.py": """
                from utils.log import log_event
                def cli():
                    log_event("cli")
            """,
            "app/pay.py": """
                from billing.invoice import Invoice
                from billing.tax import apply_tax
                def pay(lines):
                    return apply_tax(Invoice().compute_total(lines))
            """,
            "web/server.ts": """
                export function startServer(): void { logEvent("up"); }
            """,
            "web/log.ts": """
                export function logEvent(name: string): void { console.log(name); }
            """,
            "android/Main.kt": 'fun main() { println("hi") }\n',
            "README.md": "# not code\n",
        },
    )
    return root


async def test_identifier_ranks_its_defining_file_in_the_top_three(project: Path) -> None:
    ws = Workspace(project)
    repo_map = RepoMap(ws, cache_path=project.parent / "cache.sqlite3")
    try:
        plain = await repo_map.build()
        assert plain.files[0].path == "utils/log.py"  # the most referenced file wins overall
        asked = await repo_map.build(mentioned_idents=["compute_total"])
        top3 = [f.path for f in asked.files[:3]]
        assert "billing/invoice.py" in top3
        assert asked.text.startswith("billing/invoice.py:")
        assert "compute_total" in asked.text.splitlines()[1] + asked.text.splitlines()[2]
        by_file = await repo_map.build(mentioned_files=["billing/tax.py"])
        assert "billing/tax.py" in [f.path for f in by_file.files[:3]]
    finally:
        repo_map.close()


async def test_language_without_grammar_falls_back_with_a_notice(project: Path) -> None:
    repo_map = RepoMap(Workspace(project), cache_path=project.parent / "cache.sqlite3")
    try:
        result = await repo_map.build(token_budget=4096)
    finally:
        repo_map.close()
    assert any("Kotlin" in n and "listed by name only" in n for n in result.notices)
    assert "android/Main.kt (no grammar: listed by name)" in result.text
    assert "README.md" not in result.text
    assert "web/log.ts:" in result.text


async def test_cache_parses_nothing_on_an_unchanged_tree_and_updates_incrementally(
    project: Path,
) -> None:
    cache = project.parent / "cache.sqlite3"
    ws = Workspace(project)
    first = RepoMap(ws, cache_path=cache)
    cold = await first.build()
    first.close()
    assert cold.stats.files == 9
    assert cold.stats.files_parsed == 9
    second = RepoMap(ws, cache_path=cache)  # a new process would see the same file
    try:
        warm = await second.build()
        assert (warm.stats.files_read, warm.stats.files_parsed) == (0, 0)
        assert warm.text == cold.text
        (project / "billing" / "tax.py").write_text("def apply_vat(total):\n    return total\n")
        changed = await second.build()
        assert (changed.stats.files_read, changed.stats.files_parsed) == (1, 1)
        assert "apply_vat" in (await second.build(token_budget=4096)).text
        touched = project / "utils" / "log.py"
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
        same_content = await second.build()
        assert (same_content.stats.files_read, same_content.stats.files_parsed) == (1, 0)
        (project / "app" / "cli.py").unlink()
        removed = await second.refresh()
        assert removed.files_removed == 1
        assert "app/cli.py" not in (await second.build(token_budget=4096)).text
    finally:
        second.close()


async def test_output_fits_the_token_budget(project: Path) -> None:
    repo_map = RepoMap(Workspace(project), cache_path=project.parent / "cache.sqlite3")
    try:
        small = await repo_map.build(token_budget=64)
        large = await repo_map.build(token_budget=4096)
        with pytest.raises(ValidationError):
            await repo_map.build(token_budget=10)
    finally:
        repo_map.close()
    assert small.stats.tokens <= 64
    assert len(small.text) <= 64 * 4
    assert small.stats.definitions_shown < large.stats.definitions_shown
    assert large.stats.tokens <= 4096


def test_a_corrupt_cache_is_reported(project: Path) -> None:
    cache = project.parent / "cache.sqlite3"
    cache.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptDataError, match="delete the file"):
        RepoMap(Workspace(project), cache_path=cache)


async def test_default_cache_lives_in_the_data_dir(project: Path) -> None:
    repo_map = RepoMap(Workspace(project))
    try:
        await repo_map.build()
    finally:
        repo_map.close()
    assert (project / ".memfun" / "repomap.sqlite3").is_file()


async def test_parallel_parsing_gives_the_same_map(project: Path) -> None:
    ws = Workspace(project)
    serial = RepoMap(ws, cache_path=project.parent / "serial.sqlite3")
    parallel = RepoMap(
        ws, cache_path=project.parent / "parallel.sqlite3", parallel_from=2, workers=2
    )
    try:
        one = await serial.build(token_budget=4096)
        two = await parallel.build(token_budget=4096)
        scanned = await RepoMap(
            ws, cache_path=project.parent / "third.sqlite3", parallel_from=2, workers=2
        ).refresh()
    finally:
        serial.close()
        parallel.close()
    assert scanned.workers == 2  # the worker processes really parsed
    assert two.stats.files_parsed == one.stats.files_parsed == 9
    assert two.text == one.text


@pytest.mark.parametrize(
    ("pending", "cpus", "load", "workers"),
    [
        (1795, 2, 0.3, 2),  # two idle CPUs: two workers
        (1795, 2, 0.8, 0),  # two busy CPUs: one process won on the stdlib
        (1795, 8, 0.5, 8),
        (1795, 8, 5.0, 3),
        (1795, 8, 6.8, 0),  # a busy machine has no two CPUs to spare
        (1795, 32, 0.0, 8),
        (50, 8, 0.0, 0),  # too few files to pay for a pool
    ],
)
def test_worker_processes_only_when_cpus_are_free(
    pending: int, cpus: int, load: float, workers: int
) -> None:
    assert choose_workers(pending, 200, cpus=cpus, load=load) == workers


async def test_the_map_is_the_longest_ranked_prefix_that_fits(project: Path) -> None:
    """Each budget shows as many top definitions as fit; one more would not have fitted."""
    repo_map = RepoMap(Workspace(project), cache_path=project.parent / "cache.sqlite3")
    try:
        full = await repo_map.build(token_budget=200_000)
        partial = 0
        for budget in range(64, full.stats.tokens, 3):
            fitted = await repo_map.build(token_budget=budget)
            shown = fitted.stats.definitions_shown
            assert len(fitted.text) <= budget * 4
            if shown == full.stats.definitions_shown:
                continue
            partial += 1
            # The next definition did not fit: the first budget that shows it is larger.
            for extra in range(1, 400):
                more = await repo_map.build(token_budget=budget + extra)
                if more.stats.definitions_shown > shown:
                    assert more.stats.definitions_shown == shown + 1
                    assert len(more.text) > budget * 4
                    break
        assert partial >= 3
    finally:
        repo_map.close()
