"""Start-up time of the `memfun` command against a floor and a peer, measured in one run.

Rows: `python -c pass` (the floor), `memfun --help`, `memfun skill list` (discovers every
skill) and `aider --help` (Aider's CLI, from its own venv — see benchmarks/repo_map.py
--setup-aider). Each figure is the median wall time of N fresh processes.

Run: uv run python benchmarks/cli_startup.py [--runs 15] [--aider-venv /tmp/aider-venv]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

MEMFUN = str(Path(sys.executable).parent / "memfun")
BUDGETS_MS = {"memfun --help": 300.0, "memfun skill list": 500.0}


def median_ms(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--aider-venv", type=Path, default=Path("/tmp/aider-venv"))
    args = parser.parse_args()
    rows = {
        "python -c pass (floor)": median_ms([sys.executable, "-c", "pass"], args.runs),
        "memfun --help": median_ms([MEMFUN, "--help"], args.runs),
        "memfun skill list": median_ms([MEMFUN, "skill", "list"], args.runs),
    }
    aider = args.aider_venv / "bin" / "aider"
    if aider.is_file():
        rows["aider --help"] = median_ms([str(aider), "--help"], max(3, args.runs // 3))
    else:
        print(f"(no Aider at {aider}: create it with benchmarks/repo_map.py --setup-aider)")
    print(f"{'command':<28} {'median ms':>10}  budget")
    for name, value in rows.items():
        budget = BUDGETS_MS.get(name)
        verdict = "" if budget is None else f"{'PASS' if value < budget else 'MISS'} < {budget:.0f}"
        print(f"{name:<28} {value:>10.1f}  {verdict}")


if __name__ == "__main__":
    main()
