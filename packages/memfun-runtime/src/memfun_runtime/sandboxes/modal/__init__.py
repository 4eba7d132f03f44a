"""The ``modal`` sandbox: Modal Sandboxes (the ``modal`` extra).

The SDK is imported only when Modal is first contacted; the pure argument builders work
without it. Credentials come from environment variables NAMED by
:class:`ModalCredentials` (``MODAL_TOKEN_ID`` / ``MODAL_TOKEN_SECRET`` by default).
"""

from __future__ import annotations

from memfun_runtime.sandboxes.modal._sandbox import DEFAULT_APP, ModalSandbox
from memfun_runtime.sandboxes.modal._spec import (
    WORKSPACE_INSIDE,
    ModalCredentials,
    exec_env,
    limited_command,
    local_uploads,
    read_credentials,
    sandbox_args,
    worker_command,
)

__all__ = [
    "DEFAULT_APP",
    "WORKSPACE_INSIDE",
    "ModalCredentials",
    "ModalSandbox",
    "exec_env",
    "limited_command",
    "local_uploads",
    "read_credentials",
    "sandbox_args",
    "worker_command",
]
