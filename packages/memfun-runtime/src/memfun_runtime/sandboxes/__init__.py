"""Sandboxes: where model-written code and commands run.

``local`` (bubblewrap, or the weaker Landlock + seccomp mode) ships with the base install;
``wasm`` (Pyodide on Deno), ``docker`` (the Docker Engine API) and ``modal`` (Modal
Sandboxes) need their extras, imported only when used. Each implements
:class:`~memfun_runtime.protocols.ReplSandbox`.
"""

from __future__ import annotations

from memfun_runtime.sandboxes._repl_client import (
    SandboxTerminated,
    StreamReplSession,
    ToolAuthorizer,
)
from memfun_runtime.sandboxes.docker import DockerSandbox
from memfun_runtime.sandboxes.local import LocalCapabilities, LocalSandbox
from memfun_runtime.sandboxes.modal import ModalSandbox
from memfun_runtime.sandboxes.wasm import WasmSandbox

__all__ = [
    "DockerSandbox",
    "LocalCapabilities",
    "LocalSandbox",
    "ModalSandbox",
    "SandboxTerminated",
    "StreamReplSession",
    "ToolAuthorizer",
    "WasmSandbox",
]
