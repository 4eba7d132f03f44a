"""The ``docker`` sandbox: containers through the Docker Engine API (the ``docker`` extra).

The SDK is imported only when an engine is first contacted, so importing this package
is cheap and works without the extra; the pure argument builders are usable anywhere.
"""

from __future__ import annotations

from memfun_runtime.sandboxes.docker._attach import FrameDecoder
from memfun_runtime.sandboxes.docker._reaper import ContainerInfo, pid_alive, stale_containers
from memfun_runtime.sandboxes.docker._sandbox import DEFAULT_IMAGE, DockerSandbox, default_user
from memfun_runtime.sandboxes.docker._spec import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_SANDBOX,
    LABEL_SESSION,
    ContainerRequest,
    container_spec,
    repl_command,
    stdin_command,
)

__all__ = [
    "DEFAULT_IMAGE",
    "LABEL_HOST",
    "LABEL_PID",
    "LABEL_SANDBOX",
    "LABEL_SESSION",
    "ContainerInfo",
    "ContainerRequest",
    "DockerSandbox",
    "FrameDecoder",
    "container_spec",
    "default_user",
    "pid_alive",
    "repl_command",
    "stale_containers",
    "stdin_command",
]
