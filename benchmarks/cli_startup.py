"""Start-up time of the `memfun` command against a floor and a peer, measured in one run.

Rows: `python -c pass` (the floor), `memfun --help`, `memfun skill list` (discovers every
skill) and `aider --help` (Aider's CLI, from its own venv — see benchmarks/repo_map.py
--setup-aider). Each figure is the median wall time of N fresh processes, with the minimum.

A user's machine has bytecode after the first run, but this environment may set
PYTHONDONTWRITEBYTECODE=1: the script first runs `python -m compileall` over the venv and
the workspace and runs every child with the variable unset (`--no-compile` skips both).

Run: uv run python benchmarks/cli_startup.py [--runs 15] [--no-compile] [--aider-venv DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

MEMFUN = str(Path(sys.executable).parent / "memfun")
WORKSPACE = Path(__file__).resolve().parents[1]
BUDGETS_MS = {"memfun --help": 300.0, "memfun skill list": 150.0}


def compile_all() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    paths = [sysconfig.get_paths()["purelib"], *map(str, WORKSPACE.glob("packages/*/src"))]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
        env=env,
        capture_output=True,
        check=False,
    )


def timed_ms(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median and minimum wall time of ``runs`` fresh processes, in ms."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, min(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--aider-venv", type=Path, default=Path("/tmp/aider-venv"))
    parser.add_argument("--no-compile", action="store_true", help="no compileall, as the env is")
    args = parser.parse_args()
    env = dict(os.environ)
    if not args.no_compile:
        compile_all()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows = {
        "python -c pass (floor)": timed_ms([sys.executable, "-c", "pass"], args.runs, env),
        "memfun --help": timed_ms([MEMFUN, "--help"], args.runs, env),
        "memfun skill list": timed_ms([MEMFUN, "skill", "list"], args.runs, env),
    }
    aider = args.aider_venv / "bin" / "aider"
    if aider.is_file():
        rows["aider --help"] = timed_ms([str(aider), "--help"], max(3, args.runs // 3), env)
    else:
        print(f"(no Aider at {aider}: create it with benchmarks/repo_map.py --setup-aider)")
    bytecode = "no compileall" if args.no_compile else "bytecode compiled first"
    print(f"{args.runs} fresh processes each ({bytecode}; load average {os.getloadavg()[0]:.1f})")
    print(f"{'command':<28} {'median ms':>10} {'min ms':>8}  budget")
    for name, (value, least) in rows.items():
        budget = BUDGETS_MS.get(name)
        verdict = "" if budget is None else f"{'PASS' if value < budget else 'MISS'} < {budget:.0f}"
        print(f"{name:<28} {value:>10.1f} {least:>8.1f}  {verdict}")


if __name__ == "__main__":
    main()
