"""End-to-end start-up of a task: `memfun ask` against a bare `dspy.RLM`, fresh processes, same run.

Rows (each the median wall time of N fresh processes, measured in interleaved rounds):

* bare `dspy.RLM` (baseline): a fresh `python` that imports DSPy, builds `dspy.LM` on the
  scripted OpenAI-compatible server and runs a two-step `dspy.RLM` on `dspy.LocalInterpreter`;
* `memfun ask --json` on the same server and the same two replies, in a scratch project
  (the default SQLite runtime, the sandbox, the tool gateway, the trace);
* `memfun ask` with the key's variable unset: the time to the missing-key error;
* `memfun mcp serve` (stdio): the time until it answers `initialize` (answered while the
  gateway loads), and until it answers the first `tools/list` (the gateway built);
* `memfun skill list`.

The model is `memfun_agent.testing`'s OpenAI-compatible server on 127.0.0.1, so only start-up
and the two steps are measured. `--importtime` adds a table of what each process imports
(`python -X importtime`, cumulative ms of the top-level packages).

This environment sets PYTHONDONTWRITEBYTECODE=1, so nothing is compiled to bytecode: every start
compiles every module from source. A user's machine has bytecode after the first run; the script
runs `python -m compileall` over the venv and the workspace first (`--no-compile` skips it) and
runs every child with the variable unset.

Run: uv run python benchmarks/ask_e2e.py [--runs 7] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from memfun_agent.testing import FakeOpenAI, fake_openai_server, format_fields

MEMFUN = str(Path(sys.executable).parent / "memfun")
WORKSPACE = Path(__file__).resolve().parent.parent
KEY_ENV = "MEMFUN_BENCH_KEY"
TARGETS = {
    "ratio": 1.3,
    "missing key": 0.5,
    "mcp serve initialize": 1.5,
    "skill list": 0.150,
}
STEPS = [
    {"reasoning": "Look at the file.", "code": "print(len(task))"},
    {"reasoning": "Done.", "code": "SUBMIT(answer='it adds', summary='read calc.py')"},
]
BARE = """
import os, sys
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import dspy
lm = dspy.LM("openai/test-model", api_base=sys.argv[1], api_key="k", cache=False)
rlm = dspy.RLM("task -> answer, summary", max_iters=4, interpreter_factory=dspy.LocalInterpreter)
with dspy.context(lm=lm):
    result = rlm(task="what does calc.py do?")
assert result.answer == "it adds", result
print(result.answer)
"""
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def child_env(home: Path, *, key: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["HOME"] = str(home)
    if key:
        env[KEY_ENV] = "bench-key"
    return env


def make_project(tmp: Path, model: FakeOpenAI) -> Path:
    project = tmp / "proj"
    project.mkdir()
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    (project / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        f'api_key_env = "{KEY_ENV}"\n[llm.budgets]\nmax_iterations = 4\n',
        encoding="utf-8",
    )
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def timed(cmd: list[str], cwd: Path, env: dict[str, str], *, ok: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if (done.returncode == 0) != ok:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def scripted(model: FakeOpenAI) -> None:
    model.replies = [format_fields(step) for step in STEPS]


def bare_rlm(model: FakeOpenAI, cwd: Path, env: dict[str, str], extra: list[str]) -> float:
    scripted(model)
    return timed([sys.executable, *extra, "-c", BARE, model.base], cwd, env)


def memfun_ask(model: FakeOpenAI, cwd: Path, env: dict[str, str], extra: list[str]) -> float:
    scripted(model)
    cmd = [sys.executable, *extra, "-c", "from memfun_cli.app import console; console()"]
    return timed([*cmd, "ask", "what does calc.py do?", "--json"], cwd, env)


def serve_initialize(cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from the start of `memfun mcp serve` to its `initialize` and `tools/list` answers.

    The first `tools/list` is answered once the gateway is built (FastMCP loaded, the tool
    servers ready).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [MEMFUN, "mcp", "serve"],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None

    def answer(what: str) -> float:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        if not ready:
            raise SystemExit(f"memfun mcp serve did not answer {what} in 120 s")
        line = proc.stdout.readline()
        if b'"result"' not in line:
            raise SystemExit(f"unexpected answer to {what}: {line[:300]!r}")
        return time.perf_counter() - start

    try:
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        initialized = answer("initialize")
        for message in INITIALIZED, TOOLS_LIST:
            proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()
        return initialized, answer("tools/list")
    finally:
        proc.kill()
        proc.wait()


def import_table(stderr: str) -> dict[str, float]:
    """Cumulative ms of each top-level package imported directly (not through another)."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if found and len(found.group(2)) == 1:
            top = found.group(3).split(".")[0]
            totals[top] = totals.get(top, 0.0) + int(found.group(1)) / 1000
    return totals


def importtime(model: FakeOpenAI, cwd: Path, env: dict[str, str]) -> None:
    rows: dict[str, dict[str, float]] = {}
    traced = dict(env, PYTHONPROFILEIMPORTTIME="1")
    commands = {
        "bare dspy.RLM": [sys.executable, "-c", BARE, model.base],
        "memfun ask": [MEMFUN, "ask", "what does calc.py do?", "--json"],
    }
    for name, cmd in commands.items():
        scripted(model)
        done = subprocess.run(cmd, cwd=cwd, env=traced, capture_output=True, text=True, check=False)
        rows[name] = import_table(done.stderr)
    names = sorted(
        {k for table in rows.values() for k, v in table.items() if v >= 20},
        key=lambda k: -max(t.get(k, 0.0) for t in rows.values()),
    )
    print("\nimports (python -X importtime, cumulative ms, one run each, packages >= 20 ms)")
    print(f"{'package':<24}" + "".join(f"{name:>16}" for name in rows))
    for key in names:
        print(f"{key:<24}" + "".join(f"{t.get(key, 0.0):>16.0f}" for t in rows.values()))
    print(f"{'total':<24}" + "".join(f"{sum(t.values()):>16.0f}" for t in rows.values()))


def compile_all() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    paths = [sysconfig.get_paths()["purelib"], *map(str, WORKSPACE.glob("packages/*/src"))]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
        env=env,
        capture_output=True,
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-compile", action="store_true", help="skip compileall")
    parser.add_argument("--importtime", action="store_true", help="add the import table")
    args = parser.parse_args()
    if not args.no_compile:
        compile_all()
    with (
        tempfile.TemporaryDirectory(prefix="memfun-ask-e2e-") as folder,
        fake_openai_server() as model,
    ):
        tmp = Path(folder)
        (tmp / "home").mkdir()
        project = make_project(tmp, model)
        env = child_env(tmp / "home", key=True)
        no_key = child_env(tmp / "home", key=False)
        samples: dict[str, list[float]] = {
            "bare dspy.RLM (baseline)": [],
            "memfun ask": [],
            "missing key": [],
            "mcp serve initialize": [],
            "mcp serve tools/list": [],
            "skill list": [],
        }
        bare_rlm(model, project, env, [])  # warm the page cache for both sides
        memfun_ask(model, project, env, [])
        for _ in range(args.runs):
            samples["bare dspy.RLM (baseline)"].append(bare_rlm(model, project, env, []))
            samples["memfun ask"].append(memfun_ask(model, project, env, []))
            samples["missing key"].append(timed([MEMFUN, "ask", "x"], project, no_key, ok=False))
            initialized, listed = serve_initialize(project, env)
            samples["mcp serve initialize"].append(initialized)
            samples["mcp serve tools/list"].append(listed)
            samples["skill list"].append(timed([MEMFUN, "skill", "list"], project, env))
        med = {name: statistics.median(values) for name, values in samples.items()}
        ratio = med["memfun ask"] / med["bare dspy.RLM (baseline)"]
        load = os.getloadavg()[0]
        bytecode = "no bytecode" if args.no_compile else "bytecode compiled first"
        print(f"median of {args.runs} fresh processes ({bytecode}; load average {load:.1f})")
        print(f"{'what':<28}{'median s':>10}{'min s':>8}  target")
        for name, values in samples.items():
            target = TARGETS.get(name)
            verdict = ""
            if target is not None:
                verdict = f"{'PASS' if med[name] < target else 'MISS'} < {target:g} s"
            print(f"{name:<28}{med[name]:>10.3f}{min(values):>8.3f}  {verdict}")
        verdict = "PASS" if ratio <= TARGETS["ratio"] else "MISS"
        print(f"{'ask / bare ratio':<28}{ratio:>10.2f}{'':>8}  {verdict} <= {TARGETS['ratio']}")
        if args.importtime:
            importtime(model, project, env)


if __name__ == "__main__":
    main()
