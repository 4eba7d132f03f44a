"""The ``local`` sandbox: bubblewrap namespaces, or the weaker Landlock + seccomp mode."""

from __future__ import annotations

from memfun_runtime.sandboxes.local._probe import LocalCapabilities, probe
from memfun_runtime.sandboxes.local._sandbox import LocalSandbox

__all__ = ["LocalCapabilities", "LocalSandbox", "probe"]
