"""The ``wasm`` sandbox: Python in Pyodide (WebAssembly) on Deno, with no network and no host files.

Needs the ``wasm`` extra (the ``deno`` wheel) and, once per machine, Pyodide fetched from the
npm registry by ``python -m memfun_runtime.sandboxes.wasm.setup`` (see :func:`install_pyodide`).
"""

from __future__ import annotations

from memfun_runtime.sandboxes.wasm._cache import (
    PYODIDE_DIR_ENV,
    PYODIDE_VERSION,
    SETUP_COMMAND,
    PyodideCache,
    default_pyodide_root,
    locate_pyodide,
)
from memfun_runtime.sandboxes.wasm._sandbox import WasmReplSession, WasmSandbox
from memfun_runtime.sandboxes.wasm._setup import install_pyodide

__all__ = [
    "PYODIDE_DIR_ENV",
    "PYODIDE_VERSION",
    "SETUP_COMMAND",
    "PyodideCache",
    "WasmReplSession",
    "WasmSandbox",
    "default_pyodide_root",
    "install_pyodide",
    "locate_pyodide",
]
