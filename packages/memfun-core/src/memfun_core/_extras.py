"""The one helper that turns a missing optional dependency into a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from memfun_core.errors import MissingExtraError

__all__ = ["import_extra"]


def import_extra(module: str, *, package: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming the extra to install.

    Args:
        module: The module to import (``"redis.asyncio"``).
        package: The Memfun distribution that declares the extra (``"memfun-runtime"``).
        extra: The extra that brings the module in (``"redis"``).
        feature: What the user asked for, for the message (``"the Redis backend"``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: When the module (or one it needs) cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            feature=feature, package=package, extra=extra, module=module
        ) from exc
