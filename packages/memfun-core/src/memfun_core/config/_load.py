"""Finding, reading and merging configuration: defaults < user file < project file < env."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfun_core.config._schema import MemfunConfig
from memfun_core.config._security import tightened
from memfun_core.config._untrusted import loosened_settings
from memfun_core.config._validate import (
    COMPUTED_KEYS,
    Tree,
    build,
    check_section,
    merge,
    parse_env_value,
    type_at,
)
from memfun_core.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "PROJECT_FILE",
    "find_project_file",
    "load_config",
    "parse_setting",
    "user_config_path",
]

PROJECT_FILE = "memfun.toml"
ENV_PREFIX = "MEMFUN_"
#: Separates the section from the key in a config variable: MEMFUN_RUNTIME__TIER.
ENV_SEPARATOR = "__"
#: Points at one config file to use instead of the project file search.
ENV_CONFIG_FILE = "MEMFUN_CONFIG"


def find_project_file(start: Path) -> Path | None:
    """Walk up from ``start`` to the file-system root and return the first ``memfun.toml``."""
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def user_config_path(environ: Mapping[str, str]) -> Path:
    """Return the user's config file path (``$XDG_CONFIG_HOME/memfun/config.toml``)."""
    base = environ.get("XDG_CONFIG_HOME") or str(
        Path(environ.get("HOME", "~")).expanduser() / ".config"
    )
    return Path(base) / "memfun" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file: {exc.strerror or exc}",
            source=source,
            hint="check that it exists and is readable",
        ) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start})", source=source, hint="save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"not valid TOML: {exc}", source=source, hint="fix the syntax; see https://toml.io"
        ) from None


def parse_setting(key: str, text: str, *, source: str) -> Any:
    """Turn ``text`` into the checked value of the dotted config ``key``.

    Used for ``MEMFUN_*`` variables and ``memfun config set``: booleans accept
    true/false/1/0/yes/no/on/off, lists are comma-separated.

    Raises:
        ConfigError: An unknown key (with the closest known one), a table, or a value that
            breaks the key's type or rules.
    """
    path = key.lower().split(".")
    tp = type_at(MemfunConfig, path)
    if tp is None or path[0] in COMPUTED_KEYS:
        raise ConfigError(
            "no such config key",
            source=source,
            key=key,
            hint="keys look like runtime.tier or llm.budgets.max_iterations; "
            "see `memfun config show`",
        )
    value = parse_env_value(tp, text, source=source, key=key)
    raw: Tree = {path[-1]: value}
    for part in reversed(path[:-1]):
        raw = {part: raw}
    checked: Any = check_section(MemfunConfig, raw, source=source)
    for part in path:
        checked = checked[part]
    return checked


def _env_tree(environ: Mapping[str, str]) -> tuple[Tree, list[str]]:
    tree: Tree = {}
    names: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR))
        source = f"environment variable {name}"
        value = parse_setting(key, environ[name], source=source)
        raw: Tree = {key.split(".")[-1]: value}
        for part in reversed(key.split(".")[:-1]):
            raw = {part: raw}
        tree = merge(tree, raw)
        names.append(name)
    return tree, names


def load_config(
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    files: list[Path] | None = None,
    trust_check: bool = True,
) -> MemfunConfig:
    """Load, merge and validate Memfun's configuration.

    Precedence, lowest first: built-in defaults, the user file
    (``~/.config/memfun/config.toml``), the project file (the nearest ``memfun.toml``
    walking up from ``cwd``, or the file named by ``MEMFUN_CONFIG``), then environment
    variables ``MEMFUN_<SECTION>__<KEY>`` (``MEMFUN_LLM__MODEL``,
    ``MEMFUN_LLM__BUDGETS__MAX_ITERATIONS``).

    Args:
        cwd: Where to start looking for ``memfun.toml`` (the current directory by default).
        environ: The environment (``os.environ`` by default).
        files: Read exactly these files (lowest precedence first) instead of searching.
        trust_check: Refuse a project file that loosens what an untrusted folder may not
            (see :func:`loosened_settings`); ``memfun trust`` turns it off to show them.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: For malformed TOML, an unknown key, a wrong type, a raw API key, a
            bad environment variable, naming the file or variable and the key; or a project
            file of an untrusted folder that points the model, runtime or web tools off this
            machine or loosens the sandbox.
    """
    env = os.environ if environ is None else environ
    start = (cwd or Path.cwd()).resolve()
    project_root: Path | None = None
    if files is None:
        files = []
        user_file = user_config_path(env)
        if user_file.is_file():
            files.append(user_file)
        explicit = env.get(ENV_CONFIG_FILE)
        project_file = Path(explicit) if explicit else find_project_file(start)
        if project_file is not None:
            files.append(project_file)
            project_root = project_file.resolve().parent
    tree: Tree = {}
    sources: list[str] = []
    project_security: tuple[Tree, str] | None = None
    for path in files:
        checked = check_section(MemfunConfig, _read_toml(path), source=str(path))
        if project_root is not None and path is files[-1]:
            if trust_check:
                _require_trust(path, project_root, checked, env)
            if "security" in checked:
                # A repository's own file may only tighten [security] (see `tightened`).
                project_security = (checked.pop("security"), str(path))
        tree = merge(tree, checked)
        sources.append(str(path))
    env_tree, env_names = _env_tree(env)
    tree = merge(tree, env_tree)
    sources.extend(env_names)
    tree["sources"] = tuple(sources)
    tree["project_root"] = str(project_root or start)
    # Rules across keys can only be checked on the merged result; name every contributor.
    merged_source = " + ".join(sources) or "defaults"
    config: MemfunConfig = build(MemfunConfig, tree, source=merged_source)
    if project_security is not None:
        raw, source = project_security
        project: MemfunConfig = build(MemfunConfig, {"security": raw}, source=source)
        config = dataclasses.replace(config, security=tightened(config.security, project.security))
    return config


def project_loosened_settings(path: Path) -> list[str]:
    """The settings of the project file ``path`` that wait for a trusted folder.

    Raises:
        ConfigError: The file is not valid configuration.
    """
    return loosened_settings(check_section(MemfunConfig, _read_toml(path), source=str(path)))


def _require_trust(path: Path, root: Path, checked: Tree, env: Mapping[str, str]) -> None:
    """Refuse a project file that loosens what only a trusted folder may loosen."""
    loosened = loosened_settings(checked)
    if not loosened:
        return
    from memfun_core.trust import inactive_reason  # the trust store imports this package

    reason = inactive_reason(root, env)
    if reason is None:
        return
    raise ConfigError(
        f"{reason}, and its memfun.toml sets "
        + "; ".join(loosened)
        + ": that would send your API key, code or traces off this machine, open another"
        " project's runtime or loosen the sandbox",
        source=str(path),
        hint=f"read {path}; if you trust it, run `memfun trust {root}`",
    )
