"""Checking raw TOML values against the config dataclasses, with errors that name the place.

Each source (a file, the environment) is checked on its own, so an error names the file or
variable it came from. The result of a check is a *partial* tree: plain dicts for sections,
typed values for leaves. Trees are merged by precedence, then built into dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin

from memfun_core.config._schema import MCPServerConfig
from memfun_core.errors import ConfigError
from memfun_core.secrets import ENV_NAME_PATTERN, SECRET_NAME_PATTERN, looks_like_secret, redact

__all__ = ["build", "check_section", "describe", "merge", "parse_env_value", "type_at"]

#: Fields of the root config that are computed, never read from a file.
COMPUTED_KEYS = frozenset({"sources", "project_root"})

_RAW_KEY_HINT = (
    "put the NAME of the environment variable that holds the key in `api_key_env` "
    '(for example api_key_env = "ANTHROPIC_API_KEY") and export the key in your shell'
)

Tree = dict[str, Any]
#: Numeric keys where zero is meaningful (every other number must be positive).
_ZERO_ALLOWED = frozenset({"web.max_redirects", "agents.max_delegation_depth"})


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> dict[str, Any]:
    return {k: v for k, v in _hints(cls).items() if k not in COMPUTED_KEYS}


def describe(tp: Any) -> str:
    """Say in words what a value of type ``tp`` looks like in TOML."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {describe(get_args(tp)[0])}s"
    if origin is dict:
        return f"a table of {describe(get_args(tp)[1])}s"
    names = {bool: "true or false", int: "a positive integer", float: "a positive number"}
    return names.get(tp, "a string")


def _fail(source: str, key: str, tp: Any, value: object) -> ConfigError:
    expected = describe(tp)
    return ConfigError(
        f"expected {expected}, got {redact(repr(value))} ({type(value).__name__})",
        source=source,
        key=key,
        expected=expected,
    )


def _raw_key_error(source: str, key: str) -> ConfigError:
    return ConfigError(
        "looks like a raw API key or token; Memfun refuses to read secrets from config",
        source=source,
        key=key,
        expected="the NAME of an environment variable",
        hint=_RAW_KEY_HINT,
    )


def check_section(cls: type, raw: Mapping[str, Any], *, source: str, prefix: str = "") -> Tree:
    """Check a TOML table against the dataclass ``cls`` and return its partial tree.

    Raises:
        ConfigError: On an unknown key, a wrong type, a raw secret or a broken rule; the
            error names ``source`` and the dotted key.
    """
    fields = _fields(cls)
    out: Tree = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise _unknown_key(source, dotted, key, value, fields)
        out[key] = _check_value(fields[key], value, source=source, key=dotted)
    return out


def _unknown_key(
    source: str, dotted: str, key: str, value: object, fields: Mapping[str, Any]
) -> ConfigError:
    if SECRET_NAME_PATTERN.search(key) and isinstance(value, str):
        return _raw_key_error(source, dotted)
    close = difflib.get_close_matches(key, list(fields), n=1)
    known = ", ".join(sorted(fields))
    hint = (
        f"did you mean {close[0]!r}? known keys here: {known}"
        if close
        else f"known keys here: {known}"
    )
    return ConfigError("unknown key", source=source, key=dotted, expected=known, hint=hint)


def _check_value(tp: Any, value: Any, *, source: str, key: str) -> Any:  # noqa: C901, PLR0911, PLR0912
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(source, key, tp, value)
        section = typing.cast("type", tp)
        return check_section(
            section, typing.cast("dict[str, Any]", value), source=source, prefix=f"{key}."
        )
    if origin in (Union, types.UnionType):
        (inner,) = (a for a in get_args(tp) if a is not type(None))
        return _check_value(inner, value, source=source, key=key)
    if origin is Literal:
        if value not in get_args(tp):
            raise _fail(source, key, tp, value)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, tp, value)
        return value
    if tp in (int, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        floor_ok = ok and (value >= 0 if key in _ZERO_ALLOWED else value > 0)
        if not ok or (tp is int and not isinstance(value, int)) or not floor_ok:
            raise _fail(source, key, tp, value)
        return tp(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(source, key, tp, value)
        items = typing.cast("list[Any]", value)
        item_tp = get_args(tp)[0]
        return tuple(
            _check_value(item_tp, v, source=source, key=f"{key}[{i}]") for i, v in enumerate(items)
        )
    if origin is dict:
        return _check_dict(tp, value, source=source, key=key)
    if not isinstance(value, str):
        raise _fail(source, key, tp, value)
    return _check_string(value, source=source, key=key)


def _check_dict(tp: Any, value: Any, *, source: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(source, key, tp, value)
    item_tp = get_args(tp)[1]
    out: dict[str, Any] = {}
    for name, item in typing.cast("dict[str, Any]", value).items():
        checked = _check_value(item_tp, item, source=source, key=f"{key}.{name}")
        if dataclasses.is_dataclass(item_tp):
            checked = build(
                typing.cast("type[Any]", item_tp), checked, source=source, key=f"{key}.{name}."
            )
        out[name] = checked
    return out


def _check_string(value: str, *, source: str, key: str) -> str:
    if looks_like_secret(value):
        raise _raw_key_error(source, key)
    if key.endswith("api_key_env") and not ENV_NAME_PATTERN.match(value):
        raise ConfigError(
            f"expected the NAME of an environment variable, got {value!r}",
            source=source,
            key=key,
            expected="an environment variable name such as ANTHROPIC_API_KEY",
            hint=_RAW_KEY_HINT,
        )
    return value


def merge(base: Tree, override: Tree) -> Tree:
    """Merge two partial trees; ``override`` wins leaf by leaf."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(typing.cast("Tree", old), typing.cast("Tree", value))
        else:
            out[key] = value
    return out


def _mcp_server_rule(server: MCPServerConfig) -> str | None:
    if (server.command is None) == (server.url is None):
        return "set exactly one of `command` (a stdio server) or `url` (an HTTP server)"
    return None


#: Rules that look at a whole object once it is built: return a message, or None if fine.
_OBJECT_RULES: dict[type, Callable[[Any], str | None]] = {MCPServerConfig: _mcp_server_rule}


def build(cls: type[Any], tree: Tree, *, source: str = "config", key: str = "") -> Any:
    """Build the dataclass ``cls`` from a merged partial tree (defaults fill the gaps)."""
    kwargs: dict[str, Any] = {}
    for name, tp in _hints(cls).items():
        if name not in tree:
            continue
        value = tree[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            value = build(
                typing.cast("type[Any]", tp),
                typing.cast("Tree", value),
                source=source,
                key=f"{key}{name}.",
            )
        kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except ConfigError as error:  # a rule checked by the dataclass itself
        raise ConfigError(
            error.message.split(": ", 1)[-1], source=source, key=error.key, hint=error.hint
        ) from None
    rule = _OBJECT_RULES.get(cls)
    problem = rule(obj) if rule else None
    if problem:
        raise ConfigError(problem, source=source, key=key.rstrip(".") or None)
    return obj


def type_at(cls: type, path: list[str]) -> Any | None:
    """Return the type of the field at ``path`` below ``cls``, or ``None`` if there is none."""
    tp: Any = cls
    for part in path:
        if not dataclasses.is_dataclass(tp):
            return None
        fields = _fields(typing.cast("type", tp))
        if part not in fields:
            return None
        tp = fields[part]
    return tp


def parse_env_value(tp: Any, text: str, *, source: str, key: str) -> Any:
    """Turn an environment variable's text into a value of type ``tp`` (before checking).

    Booleans accept true/false/1/0/yes/no/on/off; lists are comma-separated.
    """
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        (tp,) = (a for a in get_args(tp) if a is not type(None))
        origin = get_origin(tp)
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        raise _fail(source, key, tp, text) from None
    if origin is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    if origin is dict or dataclasses.is_dataclass(tp):
        raise ConfigError(
            "cannot be set from the environment",
            source=source,
            key=key,
            expected="a config file entry",
            hint="set tables such as [mcp.servers] in memfun.toml",
        )
    return text
