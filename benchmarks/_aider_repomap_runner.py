"""Runs Aider's RepoMap cold and warm on a tree; executed by repo_map.py in Aider's own venv.

Usage: <aider-venv>/bin/python _aider_repomap_runner.py ROOT TOKENS
Prints one JSON line: {"cold": seconds, "warm": seconds, "files": n, "tokens": n}.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


class _CharModel:
    """Token counting as characters / 4: the same estimate Memfun uses, and no download."""

    def token_count(self, text: object) -> int:
        return (len(str(text)) + 3) // 4


def _sources(root: Path) -> list[str]:
    exts = {".py", ".pyi", ".js", ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".rb"}
    return sorted(
        str(p)
        for p in root.rglob("*")
        if p.is_file() and p.suffix in exts and p.stat().st_size <= 1 << 20
    )


def main() -> None:
    root = Path(sys.argv[1]).resolve()
    tokens = int(sys.argv[2])
    os.chdir(root)
    from aider.io import InputOutput
    from aider.repomap import RepoMap

    files = _sources(root)
    io = InputOutput(yes=True, pretty=False)
    timings: list[float] = []
    cpu: list[float] = []
    text = ""
    for _ in range(2):
        start, start_cpu = time.perf_counter(), time.process_time()
        rm = RepoMap(
            map_tokens=tokens, root=str(root), main_model=_CharModel(), io=io, verbose=False
        )
        text = rm.get_repo_map(chat_files=[], other_files=files, force_refresh=True) or ""
        timings.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    result = {
        "cold": timings[0],
        "warm": timings[1],
        "cold_cpu": cpu[0],
        "warm_cpu": cpu[1],
        "files": len(files),
        "tokens": (len(text) + 3) // 4,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
