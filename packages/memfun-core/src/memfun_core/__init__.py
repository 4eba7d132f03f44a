"""memfun-core: errors, configuration, logging and shared value types for every Memfun package.

The submodules are the public API: :mod:`memfun_core.errors`, :mod:`memfun_core.config`,
:mod:`memfun_core.log`, :mod:`memfun_core.secrets`. The names below are re-exported lazily, so
``import memfun_core`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_core._extras import import_extra
    from memfun_core.config import MemfunConfig, load_config
    from memfun_core.errors import (
        BackendError,
        BackendUnavailable,
        ConfigError,
        ConflictError,
        CorruptDataError,
        InternalError,
        MemfunError,
        MissingExtraError,
        NotFoundError,
        OperationTimeout,
        PermissionDeniedError,
        UserError,
        ValidationError,
    )
    from memfun_core.log import setup_logging

    __version__: str

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "InternalError",
    "MemfunConfig",
    "MemfunError",
    "MissingExtraError",
    "NotFoundError",
    "OperationTimeout",
    "PermissionDeniedError",
    "UserError",
    "ValidationError",
    "__version__",
    "import_extra",
    "load_config",
    "setup_logging",
]

_LAZY = {
    "MemfunConfig": "memfun_core.config",
    "load_config": "memfun_core.config",
    "setup_logging": "memfun_core.log",
    "import_extra": "memfun_core._extras",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("memfun-core")
    if name in __all__:
        module = importlib.import_module(_LAZY.get(name, "memfun_core.errors"))
        return getattr(module, name)
    raise AttributeError(f"module 'memfun_core' has no attribute {name!r}")
