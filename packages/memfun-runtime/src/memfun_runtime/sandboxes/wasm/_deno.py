"""Finding the Deno binary of the ``deno`` wheel (the ``wasm`` extra), lazily."""

from __future__ import annotations

from memfun_core._extras import import_extra

__all__ = ["deno_binary"]


def deno_binary() -> str:
    """Path of the ``deno`` executable shipped by the ``deno`` wheel.

    Raises:
        MissingExtraError: The ``wasm`` extra of memfun-runtime is not installed.
    """
    module = import_extra(
        "deno", package="memfun-runtime", extra="wasm", feature="the wasm sandbox"
    )
    return str(module.find_deno_bin())
