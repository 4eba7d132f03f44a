"""Import cost of memfun-core: `import memfun_core`, `memfun_core.config`, `memfun_core.log`.

Each figure is the median of N fresh interpreters, compared with a bare `python -c pass`
measured in the same run. `-X importtime` gives memfun_core's own share.

Run: uv run python benchmarks/import_time.py
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time

RUNS = 15


def wall(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def own_import_ms(module: str) -> tuple[float, float]:
    """Return (memfun_core's own self-time, the module's cumulative time) in ms, median of runs."""
    own, total = [], []
    for _ in range(RUNS):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            check=True,
            capture_output=True,
            text=True,
        ).stderr
        rows = [
            re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            for line in err.splitlines()
        ]
        rows = [r for r in rows if r]
        own.append(
            sum(int(r.group(1)) for r in rows if r.group(4).startswith("memfun_core")) / 1000
        )
        total.append(next(int(r.group(2)) for r in rows if r.group(4) == module) / 1000)
    return statistics.median(own), statistics.median(total)


def main() -> None:
    base = wall([sys.executable, "-c", "pass"])
    print(f"{'what':<40} {'median ms':>10}")
    print(f"{'python -c pass (baseline)':<40} {base:>10.1f}")
    for module in ("memfun_core", "memfun_core.config", "memfun_core.log"):
        own, total = own_import_ms(module)
        print(f"{'import ' + module + ' (cumulative)':<40} {total:>10.1f}")
        print(f"{'  of which memfun_core own modules':<40} {own:>10.1f}")


if __name__ == "__main__":
    main()
