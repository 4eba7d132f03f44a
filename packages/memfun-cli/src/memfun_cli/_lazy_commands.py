"""Load each ``memfun`` command's module, and convert each command, only when it is used.

``memfun skill list`` used to import all eighteen command modules (asyncio, the trust store,
the agent runner, ...) to build the Click group before running one command. The root group
here knows each command's name and the module that defines it; the module is imported, and
its commands converted by Typer, the first time Click asks for one of them. Within a command
group (``memfun skill`` has eleven commands) each command is converted when it is asked for.
``memfun --help`` asks for all of them (it shows each one's summary), so it loads every
module as before.

The conversion is Typer's own (:func:`typer.main.get_group` on a Typer holding what the
module registers, :func:`typer.main.get_command_from_info` for a group's command), with the
root's settings, so a command behaves as if it had been added to the root app directly. A
module that does not define exactly the names listed for it is an
:class:`~memfun_core.errors.InternalError` naming the difference.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer.core import TyperGroup
from typer.models import CommandInfo

from memfun_core.errors import InternalError

__all__ = ["CommandSource", "LazyCommands", "lazy_group"]

Loader = Callable[[], Mapping[str, _click.Command]]
"""Returns the commands of one source, by name."""


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
    """A group's commands: every name known up front, each loaded on first use.

    Args:
        loaded: The commands already converted.
        order: Every name, in ``--help`` order.
        loaders: For each name not loaded yet, what loads it (one loader may serve several
            names: all of them are kept once it ran).
    """

    def __init__(
        self,
        loaded: Mapping[str, _click.Command],
        order: tuple[str, ...],
        loaders: Mapping[str, Loader],
    ) -> None:
        self._loaded: dict[str, _click.Command] = dict(loaded)
        self._order = list(order)
        self._loaders = dict(loaders)
        self._order.extend(name for name in self._loaded if name not in self._order)

    def loaded(self) -> list[str]:
        """The names whose commands are converted, in order."""
        return [name for name in self._order if name in self._loaded]

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._loaded:
            loader = self._loaders.get(name)
            if loader is None:
                raise KeyError(name)
            for key, command in loader().items():
                self._loaded[key] = command
                self._loaders.pop(key, None)
        return self._loaded[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._loaders.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._order.remove(name)
        self._loaded.pop(name, None)
        self._loaders.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


def _module_loader(source: CommandSource) -> Loader:
    def load() -> Mapping[str, _click.Command]:
        module = importlib.import_module(f"memfun_cli.commands.{source.module}")
        holder = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
        source.register(module, holder)
        deferred = _defer_group_commands(holder)
        commands = typer.main.get_group(holder).commands
        if tuple(commands) != source.names:
            raise InternalError(
                f"memfun_cli.commands.{source.module} adds {tuple(commands)}, "
                f"but the command table in memfun_cli.app lists {source.names} for it"
            )
        for name, infos in deferred.items():
            group = commands[name]
            if isinstance(group, TyperGroup):
                group.commands = _group_commands(group, infos, holder)
        return commands

    return load


def _defer_group_commands(holder: typer.Typer) -> dict[str, list[CommandInfo]]:
    """Take the commands out of each group added to ``holder``, by group name.

    The groups added are replaced by copies without their commands (the modules' own apps
    stay as they are), so Typer converts a group with its sub-groups only.
    """
    deferred: dict[str, list[CommandInfo]] = {}
    for info in holder.registered_groups:
        app = info.typer_instance
        name = app.info.name if app is not None else None
        if app is None or not app.registered_commands or not isinstance(name, str):
            continue
        bare = copy.copy(app)
        bare.registered_commands = []
        info.typer_instance = bare
        deferred[name] = list(app.registered_commands)
    return deferred


def _group_commands(
    group: TyperGroup, infos: list[CommandInfo], holder: typer.Typer
) -> LazyCommands:
    """A group's commands, each converted on first use, then its sub-groups (Typer's order)."""

    def loader(info: CommandInfo, name: str) -> Loader:
        def load() -> Mapping[str, _click.Command]:
            command = typer.main.get_command_from_info(
                info,
                pretty_exceptions_short=holder.pretty_exceptions_short,
                rich_markup_mode=holder.rich_markup_mode,
            )
            if command.name != name:
                raise InternalError(
                    f"the command {name!r} of {group.name!r} became {command.name!r}"
                )
            return {name: command}

        return load

    loaders: dict[str, Loader] = {}
    for info in infos:
        callback: Any = info.callback
        name = info.name or typer.main.get_command_name(callback.__name__)
        loaders[name] = loader(info, name)
    return LazyCommands(group.commands, (*loaders, *group.commands), loaders)


def lazy_group(order: tuple[str, ...], sources: tuple[CommandSource, ...]) -> type[TyperGroup]:
    """A :class:`TyperGroup` class whose commands are :class:`LazyCommands` over ``sources``.

    Args:
        order: Every command name of the group, in ``--help`` order (the group's own
            commands, registered on its Typer app, among them).
        sources: The modules the other commands come from.
    """
    loaders = {name: _module_loader(s) for s in sources for name in s.names}

    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = LazyCommands(self.commands, order, loaders)

    return LazyGroup
