"""The options of the web tools: the ``[web]`` section of Memfun's configuration.

The dataclass lives in :mod:`memfun_core.config` (so ``memfun.toml`` validates it); this
module re-exports it for users of :mod:`memfun_tools.web`.
"""

from __future__ import annotations

from memfun_core.config import SearchBackendName, WebConfig

__all__ = ["SearchBackendName", "WebConfig"]
