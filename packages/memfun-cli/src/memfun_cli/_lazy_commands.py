"""Load each ``memfun`` command's module only when that command is used.

``memfun skill list`` used to import all eighteen command modules (asyncio, the trust store,
the agent runner, ...) to build the Click group before running one command. The root group
here knows each command's name and the module that defines it; the module is imported, and
its commands converted by Typer, the first time Click asks for one of them. ``memfun --help``
asks for all of them (it shows each one's summary), so it loads every module as before.

The conversion is Typer's own (:func:`typer.main.get_group` on a Typer holding what the
module registers), with the root's settings, so a command behaves as if it had been added to
the root app directly. A module that does not define exactly the names listed for it is an
:class:`~memfun_core.errors.InternalError` naming the difference.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer.core import TyperGroup

from memfun_core.errors import InternalError

__all__ = ["CommandSource", "LazyCommands", "lazy_group"]


@dataclass(frozen=True, slots=True)
class CommandSource:
    """Where some of the root's commands come from.

    Attributes:
        module: The module under ``memfun_cli.commands`` that defines them.
        names: The commands it adds to the root, in ``memfun --help`` order.
        register: Adds them to a Typer app, given the imported module.
    """

    module: str
    names: tuple[str, ...]
    register: Callable[[Any, typer.Typer], None]


class LazyCommands(MutableMapping[str, _click.Command]):
    """The root group's commands: every name known up front, each module imported on use."""

    def __init__(
        self,
        loaded: Mapping[str, _click.Command],
        order: tuple[str, ...],
        sources: tuple[CommandSource, ...],
    ) -> None:
        self._loaded: dict[str, _click.Command] = dict(loaded)
        self._order = list(order)
        self._source_of = {name: source for source in sources for name in source.names}
        unknown = [name for name in self._loaded if name not in self._order]
        self._order.extend(unknown)

    def _load(self, source: CommandSource) -> None:
        module = importlib.import_module(f"memfun_cli.commands.{source.module}")
        holder = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
        source.register(module, holder)
        commands = typer.main.get_group(holder).commands
        if tuple(commands) != source.names:
            raise InternalError(
                f"memfun_cli.commands.{source.module} adds {tuple(commands)}, "
                f"but the command table in memfun_cli.app lists {source.names} for it"
            )
        for name in source.names:
            self._loaded[name] = commands[name]
            del self._source_of[name]

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._loaded:
            source = self._source_of.get(name)
            if source is None:
                raise KeyError(name)
            self._load(source)
        return self._loaded[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._source_of.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._order.remove(name)
        self._loaded.pop(name, None)
        self._source_of.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._source_of

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


def lazy_group(order: tuple[str, ...], sources: tuple[CommandSource, ...]) -> type[TyperGroup]:
    """A :class:`TyperGroup` class whose commands are :class:`LazyCommands` over ``sources``.

    Args:
        order: Every command name of the group, in ``--help`` order (the group's own
            commands, registered on its Typer app, among them).
        sources: The modules the other commands come from.
    """

    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = LazyCommands(self.commands, order, sources)

    return LazyGroup
