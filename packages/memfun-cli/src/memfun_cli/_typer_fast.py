"""Keep pydantic out of the CLI's start-up: Typer's coercion of plain values without it.

Typer (0.29) coerces every parameter value through a pydantic ``TypeAdapter`` that it builds
the first time the parameter is processed. Click processes the ``--help`` option and the
completion options on every invocation, so every ``memfun`` command imported pydantic (~50 ms
with bytecode, ~40% of ``memfun skill list``), even when every value was already a ``bool``
or a ``str``.

:func:`install` gives Typer's parameters a runtime coercion that returns a value unchanged
when it already is the plain ``str`` or ``bool`` the parameter declares, with no custom
parser: exactly what Typer's adapter returns for it (``_parse_cli_str`` / ``_parse_cli_bool``
hand such a value to pydantic's ``str`` / ``bool`` validation, which accepts it as it is).
Any other value or type goes to Typer's own adapter, built on first use as before.
``packages/memfun-cli/tests/test_typer_fast.py`` checks both halves against Typer.

If a Typer release moves these internals, :func:`install` leaves Typer as it is (the CLI is
correct, only slower) and that test fails, naming what moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["install", "installed"]

_state: dict[str, bool] = {"installed": False}


def installed() -> bool:
    """Whether :func:`install` patched Typer in this process."""
    return _state["installed"]


def install() -> None:
    """Patch Typer's parameters to skip pydantic for plain ``str`` and ``bool`` values."""
    if _state["installed"]:
        return
    try:
        from typer import core
        from typer._coercion import (  # pyright: ignore[reportPrivateUsage]
            RuntimeParam,
            TypeDescriptor,
            build_runtime_param,
        )
    except ImportError:  # a Typer without these internals: keep its own coercion
        return
    parameter_class: Any = getattr(core, "_TyperParameter", None)
    if parameter_class is None or not hasattr(parameter_class, "get_runtime_param"):
        return

    @dataclass(frozen=True)
    class PlainFirst(RuntimeParam):  # pyright: ignore[reportUntypedBaseClass]
        """Plain values pass as they are; anything else goes to Typer's adapter."""

        descriptor: TypeDescriptor
        built: list[Any] = field(default_factory=list[Any])

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain = self.annotation in (str, bool) and self.parameter_info.parser is None
            if plain and type(value) is self.annotation:
                return value
            if not self.built:
                self.built.append(build_runtime_param(self.descriptor))
            return self.built[0]._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            if descriptor.file_annotation is not None:
                self._runtime_param = build_runtime_param(descriptor)
            else:
                self._runtime_param = PlainFirst(
                    parameter_info=descriptor.parameter_info,
                    annotation=descriptor.annotation,
                    descriptor=descriptor,
                )
        return self._runtime_param

    parameter_class.get_runtime_param = get_runtime_param
    _state["installed"] = True
