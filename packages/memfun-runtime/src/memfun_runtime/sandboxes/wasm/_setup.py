"""Install-time fetch of the pinned Pyodide release from the npm registry (via Deno)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from memfun_core.errors import BackendUnavailable
from memfun_runtime.sandboxes.wasm._cache import (
    MARKER,
    PYODIDE_FILES,
    PYODIDE_VERSION,
    PyodideCache,
    cache_for,
    deno_binary,
)

__all__ = ["install_pyodide"]

_JS_DIR = Path(__file__).resolve().parent / "_js"
_FETCH_TIMEOUT = 600.0
_SNAPSHOT_TIMEOUT = 300.0


def _run(argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float, what: str) -> None:
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackendUnavailable(
            f"{what} did not finish within {timeout:.0f} s",
            backend="wasm",
            target=argv[0],
            hint="check the connection to the npm registry and retry",
        ) from None
    if done.returncode != 0:
        raise BackendUnavailable(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}",
            backend="wasm",
            target=argv[0],
            hint="the npm registry must be reachable (set NPM_CONFIG_REGISTRY for a mirror); "
            "retry the setup",
        )


def _fetch(deno: str, work: Path, env: dict[str, str]) -> Path:
    """Download ``npm:pyodide@<version>`` into a private Deno cache and return its folder."""
    deno_dir = work / "deno"
    _run(
        [deno, "cache", "--no-config", "--no-lock", f"npm:pyodide@{PYODIDE_VERSION}"],
        env={**env, "DENO_DIR": str(deno_dir), "NO_COLOR": "1"},
        cwd=work,
        timeout=_FETCH_TIMEOUT,
        what=f"fetching Pyodide {PYODIDE_VERSION} from the npm registry",
    )
    found = sorted(deno_dir.glob(f"npm/*/pyodide/{PYODIDE_VERSION}"))
    if not found:
        raise BackendUnavailable(
            f"Deno reported success but no Pyodide {PYODIDE_VERSION} files are in {deno_dir}",
            backend="wasm",
            target=str(deno_dir),
            hint="retry the setup; report a bug if it persists",
        )
    return found[0]


def install_pyodide(root: Path | str | None = None, *, force: bool = False) -> PyodideCache:
    """Fetch the pinned Pyodide from the npm registry and build its start-up snapshot.

    Idempotent: returns at once when the cache is already complete (unless ``force``).
    The cache is assembled in a temporary folder and moved into place at the end, so an
    interrupted setup never leaves a half-written cache behind.

    Args:
        root: Folder holding Pyodide caches (default: ``$MEMFUN_PYODIDE_DIR`` or the user
            data dir).
        force: Rebuild even when a complete cache exists.

    Returns:
        The installed cache.

    Raises:
        MissingExtraError: The ``wasm`` extra (the ``deno`` wheel) is not installed.
        BackendUnavailable: The registry could not be reached or Pyodide did not start.
    """
    cache = cache_for(root)
    if cache.is_complete() and not force:
        return cache
    deno = deno_binary()
    cache.root.parent.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "DENO_DIR"}
    with tempfile.TemporaryDirectory(prefix=".memfun-pyodide-", dir=cache.root.parent) as tmp:
        work = Path(tmp)
        source = _fetch(deno, work, env)
        staged = PyodideCache(root=work / "cache")
        staged.package_dir.mkdir(parents=True)
        for name in PYODIDE_FILES:
            shutil.copy2(source / name, staged.package_dir / name)
        (staged.root / "deno").mkdir()
        started = time.monotonic()
        _run(
            [deno, "run", "--no-config", "--no-lock", "--no-remote", "--no-prompt",
             f"--allow-read={staged.package_dir}", f"--allow-write={staged.snapshot}",
             str(_JS_DIR / "snapshot.mjs"), staged.module.as_uri(),
             str(staged.package_dir) + os.sep, str(staged.snapshot)],
            env={"DENO_DIR": str(staged.root / "deno"), "NO_COLOR": "1"},
            cwd=staged.root,
            timeout=_SNAPSHOT_TIMEOUT,
            what="starting Pyodide to build its snapshot",
        )  # fmt: skip
        info = {
            "pyodide": PYODIDE_VERSION,
            "snapshot_seconds": round(time.monotonic() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staged.root / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        if cache.root.exists():
            shutil.rmtree(cache.root)
        staged.root.rename(cache.root)
    return cache
