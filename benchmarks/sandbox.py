"""Sandbox cost: one-shot runs, REPL cold start and warm per-call overhead.

Compared, in the same run, with a bare `python3 -c pass` / `subprocess.run` of the same
code and with DSPy's own LocalInterpreter (a plain CPython subprocess, not a sandbox).
The wasm rows (Pyodide on Deno) appear when the `wasm` extra and the Pyodide cache are
installed (`python -m memfun_runtime.sandboxes.wasm.setup`); they are compared with a
bare Pyodide start without the snapshot (what dspy.PythonInterpreter pays).
Each figure is the median of N samples, in milliseconds.

Run: uv run python benchmarks/sandbox.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from memfun_core.errors import BackendUnavailable, MissingExtraError
from memfun_runtime.protocols import SandboxLimits
from memfun_runtime.sandboxes import LocalSandbox, WasmSandbox
from memfun_runtime.sandboxes.local import probe
from memfun_runtime.sandboxes.wasm import locate_pyodide

RUNS = 15
CALLS = 200
PYTHON = "/usr/bin/python3"
CODE = "print(1)"


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def repl_numbers(sandbox: LocalSandbox | WasmSandbox, opens: int = 5) -> tuple[float, float]:
    opened: list[float] = []
    for _ in range(opens):
        start = time.perf_counter()
        session = sandbox.open_repl(limits=SandboxLimits(wall_seconds=30))
        opened.append(time.perf_counter() - start)
        session.close()
    session = sandbox.open_repl(limits=SandboxLimits(wall_seconds=30))
    session.execute("x = 0")
    warm = median_ms(lambda: session.execute("x += 1"), CALLS)
    session.close()
    return statistics.median(opened) * 1000, warm


def dspy_local_numbers() -> tuple[float, float]:
    from dspy.primitives.local_interpreter import LocalInterpreter

    opened: list[float] = []
    for _ in range(5):
        interp = LocalInterpreter()
        start = time.perf_counter()
        interp.start()
        opened.append(time.perf_counter() - start)
        interp.shutdown()
    interp = LocalInterpreter()
    interp.start()
    interp.execute("x = 0")
    warm = median_ms(lambda: interp.execute("x += 1"), CALLS)
    interp.shutdown()
    return statistics.median(opened) * 1000, warm


def bare_pyodide_start_ms() -> float:
    """A plain `loadPyodide()` under Deno without the snapshot (DSPy's interpreter's path)."""
    import deno

    cache = locate_pyodide()
    script = (
        f"const {{ loadPyodide }} = await import({cache.module.as_uri()!r});\n"
        f"const py = await loadPyodide({{ indexURL: {str(cache.package_dir) + '/'!r} }});\n"
        "py.runPython('1');\n"
    )
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [deno.find_deno_bin(), "run", "--no-config", "--no-prompt",
             f"--allow-read={cache.package_dir}", "-"],
            input=script.encode(), check=True, capture_output=True,
            env={"DENO_DIR": str(cache.root / "deno"), "NO_COLOR": "1"},
        )  # fmt: skip
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def wasm_rows() -> list[tuple[str, str, str]]:
    sandbox = WasmSandbox()
    try:
        sandbox._requirements()  # pyright: ignore[reportPrivateUsage]
    except (MissingExtraError, BackendUnavailable) as exc:
        return [("wasm (skipped)", "-", str(exc).splitlines()[0])]
    bare = bare_pyodide_start_ms()
    cold, warm = repl_numbers(sandbox, opens=3)
    one_shot = median_ms(lambda: sandbox.run_code_sync(CODE), 3)
    return [
        ("bare Deno + loadPyodide (no snapshot, baseline)", f"{bare:.1f}", "-"),
        ("wasm REPL cold start (snapshot)", f"{cold:.1f}", f"{cold - bare:+.1f} vs bare"),
        ("wasm REPL warm call", f"{warm:.2f}", "-"),
        (f"wasm run_code {CODE!r}", f"{one_shot:.1f}", "-"),
    ]


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    bare = median_ms(lambda: subprocess.run([PYTHON, "-c", "pass"], check=True))
    bare_code = median_ms(
        lambda: subprocess.run([PYTHON, "-c", CODE], check=True, capture_output=True)
    )
    rows.append(("bare python3 -c pass (baseline)", f"{bare:.1f}", "-"))
    rows.append((f"bare subprocess.run {CODE!r}", f"{bare_code:.1f}", "-"))
    modes = [("namespaces", LocalSandbox())] if probe().namespaces else []
    modes.append(("landlock", LocalSandbox(mode="landlock")))
    for label, sandbox in modes:
        one_shot = median_ms(lambda sb=sandbox: sb.run_code_sync(CODE))
        rows.append(
            (
                f"local/{label} run_code {CODE!r}",
                f"{one_shot:.1f}",
                f"+{one_shot - bare_code:.1f} vs bare",
            )
        )
        cold, warm = repl_numbers(sandbox)
        rows.append((f"local/{label} REPL cold start", f"{cold:.1f}", "-"))
        rows.append((f"local/{label} REPL warm call", f"{warm:.2f}", "-"))
    rows.extend(wasm_rows())
    cold, warm = dspy_local_numbers()
    rows.append(("dspy LocalInterpreter start (no sandbox)", f"{cold:.1f}", "-"))
    rows.append(("dspy LocalInterpreter warm call (no sandbox)", f"{warm:.2f}", "-"))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'median ms':>10}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    main()
