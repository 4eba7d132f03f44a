"""Repo map and search benchmarks on this interpreter's standard library.

    uv run python benchmarks/repo_map.py [--tokens 32768] [--aider-venv /tmp/aider-venv]

1. Repo map, cold (empty cache) and warm (a new ``RepoMap`` on the same cache), against
   Aider's ``RepoMap`` on the same tree and token budget, in the same run. Aider runs from its
   own virtual environment (never the project's); create it with ``--setup-aider`` (uses uv).
   Both sides count tokens as characters / 4 (Aider's tokenizer would need a download).
2. Search latency of ``memfun_tools.search.search_text`` (first page of 50 matches, 2 lines
   of context) against bare ``rg`` (the same binary and flags, full output), median of runs.

The tree is a copy of the stdlib without ``site-packages`` and ``__pycache__``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from memfun_tools import Workspace
from memfun_tools._binaries import find_binary
from memfun_tools.repomap import RepoMap, RepoMapResult
from memfun_tools.search import search_text

QUERIES = [
    "def __init__",
    "import os",
    r"class \w+Error",
    "TODO",
    r"asyncio\.gather",
    "NotImplementedError",
]
RUNS = 9
COLD_TARGET, WARM_TARGET = 8.0, 0.4  # seconds, wall clock, at the default 32k-token budget


def _copy_stdlib(dest: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    tree = dest / "stdlib"
    shutil.copytree(
        stdlib, tree, ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True
    )
    return tree


async def _timed(repo_map: RepoMap, tokens: int) -> tuple[float, float, RepoMapResult]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = await repo_map.build(token_budget=tokens)
    return time.perf_counter() - start, time.process_time() - start_cpu, result


async def _memfun_map(tree: Path, tmp: Path, tokens: int, warm_runs: int) -> dict[str, float | int]:
    """Cold in one process (comparable with Aider, CPU time is exact), cold with two worker
    processes (forced), cold as chosen by default (workers only when CPUs are free), warm in a
    new RepoMap on the same cache (median of ``warm_runs``), and hot (same RepoMap)."""
    ws = Workspace(tree)
    serial = RepoMap(ws, cache_path=tmp / "serial.sqlite3", workers=0)
    cold_1, cold_1_cpu, cold = await _timed(serial, tokens)
    serial.close()
    forced = RepoMap(ws, cache_path=tmp / "forced.sqlite3", workers=2)
    cold_n, _cpu, _result = await _timed(forced, tokens)
    forced.close()
    auto = RepoMap(ws, cache_path=tmp / "auto.sqlite3")
    start = time.perf_counter()
    chosen = (await auto.refresh()).workers
    cold_auto = time.perf_counter() - start + (await _timed(auto, tokens))[0]
    auto.close()
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(warm_runs):  # each a new RepoMap on the same cache, as a new process has
        warm_map = RepoMap(ws, cache_path=tmp / "serial.sqlite3")
        warm_s, warm_cpu, warm = await _timed(warm_map, tokens)
        walls.append(warm_s)
        cpus.append(warm_cpu)
        assert warm.stats.files_parsed == 0, "the warm run parsed files"
        assert warm.text == cold.text, "the warm map differs from the cold one"
        hot_s, _cpu, _result = await _timed(warm_map, tokens)
        warm_map.close()
    warm_s, warm_cpu = statistics.median(walls), statistics.median(cpus)
    return {
        "cold": cold_1,
        "cold_cpu": cold_1_cpu,
        "cold_parallel": cold_n,
        "cold_auto": cold_auto,
        "auto_workers": chosen,
        "warm": warm_s,
        "warm_cpu": warm_cpu,
        "hot": hot_s,
        "files": cold.stats.files,
        "tokens": cold.stats.tokens,
    }


def _setup_aider(venv: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to create the Aider venv: pip install uv")
    subprocess.run([uv, "venv", str(venv), "--python", sys.executable], check=True)
    subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "aider-chat"], check=True
    )


def _aider_map(venv: Path, tree: Path, tokens: int) -> dict[str, float | int] | str:
    python = venv / "bin" / "python"
    if not python.exists():
        return f"no Aider venv at {venv} (run with --setup-aider to create it)"
    aider_tree = tree.parent / "stdlib-aider"  # Aider writes its cache into the tree
    shutil.copytree(tree, aider_tree, symlinks=True)
    runner = Path(__file__).with_name("_aider_repomap_runner.py")
    done = subprocess.run(
        [str(python), str(runner), str(aider_tree), str(tokens)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return "Aider failed: " + done.stderr.strip().splitlines()[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bare_rg(tree: Path, query: str, *, sort: bool) -> float:
    argv = [str(find_binary("rg")), "--json", "--no-config", "--no-require-git"]
    if sort:
        argv += ["--sort", "path"]
    argv += ["--smart-case", "--context", "2", "--regexp", query, "--", "."]
    start = time.perf_counter()
    subprocess.run(argv, cwd=tree, capture_output=True, check=False)
    return time.perf_counter() - start


async def _search(tree: Path) -> list[tuple[str, int, list[float], list[float], list[float]]]:
    ws = Workspace(tree)
    rows: list[tuple[str, int, list[float], list[float], list[float]]] = []
    for query in QUERIES:
        ours: list[float] = []
        found = 0
        for _ in range(RUNS):
            start = time.perf_counter()
            result = await search_text(ws, query, limit=50, context=2)
            ours.append(time.perf_counter() - start)
            found = len(result.matches)
        sorted_rg = [_bare_rg(tree, query, sort=True) for _ in range(RUNS)]
        parallel_rg = [_bare_rg(tree, query, sort=False) for _ in range(RUNS)]
        rows.append((query, found, ours, sorted_rg, parallel_rg))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Repo map and search benchmarks.")
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--aider-venv", type=Path, default=Path("/tmp/aider-venv"))
    parser.add_argument("--setup-aider", action="store_true", help="create the Aider venv")
    parser.add_argument("--skip-aider", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--warm-runs", type=int, default=7, help="warm builds (median)")
    args = parser.parse_args()
    if args.setup_aider and not (args.aider_venv / "bin" / "python").exists():
        _setup_aider(args.aider_venv)
    with tempfile.TemporaryDirectory(prefix="memfun-bench-") as tmp:
        tree = _copy_stdlib(Path(tmp))
        ours = asyncio.run(_memfun_map(tree, Path(tmp), args.tokens, args.warm_runs))
        aider = "skipped" if args.skip_aider else _aider_map(args.aider_venv, tree, args.tokens)
        print(f"\nRepo map of the stdlib ({ours['files']} source files, budget {args.tokens})")
        print(f"(warm: median of {args.warm_runs} new RepoMaps on the same cache)")
        print(f"{'':26}{'cold s':>8}{'cold cpu':>10}{'warm s':>8}{'warm cpu':>10}{'tokens':>8}")
        print(
            f"{'memfun, 1 process':26}{ours['cold']:>8.2f}{ours['cold_cpu']:>10.2f}"
            f"{ours['warm']:>8.2f}{ours['warm_cpu']:>10.2f}{ours['tokens']:>8}"
        )
        print(f"{'memfun, 2 worker processes':26}{ours['cold_parallel']:>8.2f}")
        print(
            f"{'memfun, default choice':26}{ours['cold_auto']:>8.2f}"
            f"  ({ours['auto_workers']} worker processes chosen; load {os.getloadavg()[0]:.1f})"
        )
        print(
            f"targets: cold {'PASS' if ours['cold'] <= COLD_TARGET else 'MISS'} <= {COLD_TARGET} s,"
            f" warm {'PASS' if ours['warm'] <= WARM_TARGET else 'MISS'} <= {WARM_TARGET} s"
        )
        print(f"{'memfun, same RepoMap again':26}{'':>8}{'':>10}{ours['hot']:>8.2f}")
        if isinstance(aider, dict):
            print(
                f"{'aider RepoMap':26}{aider['cold']:>8.2f}{aider['cold_cpu']:>10.2f}"
                f"{aider['warm']:>8.2f}{aider['warm_cpu']:>10.2f}{aider['tokens']:>8}"
            )
            print(
                f"speed-up, wall: cold {aider['cold'] / ours['cold']:.1f}x in one process, "
                f"{aider['cold'] / ours['cold_parallel']:.1f}x with 2 workers; "
                f"warm {aider['warm'] / ours['warm']:.1f}x (target >= 10x)"
            )
            print(
                f"speed-up, CPU time: cold {aider['cold_cpu'] / ours['cold_cpu']:.1f}x, "
                f"warm {aider['warm_cpu'] / ours['warm_cpu']:.1f}x; "
                f"Aider saw {aider['files']} files"
            )
        else:
            print(f"aider RepoMap: {aider}")
        if args.skip_search:
            return
        rows = asyncio.run(_search(tree))
        med = statistics.median
        print(f"\nSearch latency in ms, median of {RUNS}; memfun returns the first 50 matches")
        print(
            f"{'query':22}{'hits':>5}{'memfun':>8}{'rg sort':>9}{'rg par':>8}"
            f"{'ratio med':>10}{'ratio min':>10}"
        )
        for query, hits, mine, rg_sorted, rg_parallel in rows:
            print(
                f"{query:22}{hits:>5}{med(mine) * 1e3:>8.1f}{med(rg_sorted) * 1e3:>9.1f}"
                f"{med(rg_parallel) * 1e3:>8.1f}{med(mine) / med(rg_sorted):>10.2f}"
                f"{min(mine) / min(rg_sorted):>10.2f}"
            )
        worst = max(med(mine) / med(rg) for _, _, mine, rg, _ in rows)
        print(f"worst median ratio memfun / bare rg (same flags): {worst:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
