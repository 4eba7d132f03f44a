"""Writing settings into ``memfun.toml`` (or the user file) for the user, comments kept.

``memfun config set`` and ``memfun runtime migrate --switch`` change configuration on the
user's behalf: values are checked like the file itself, the file is replaced only when the
result is valid, a folder the user trusts stays trusted (the edit is theirs), and in one
they do not trust, the settings that now wait for ``memfun trust`` are named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

__all__ = ["project_file", "set_project_settings", "write_settings"]


def project_file() -> Path:
    """This project's ``memfun.toml`` (the nearest one up, else one in the current folder)."""
    from memfun_core.config import PROJECT_FILE, find_project_file

    return find_project_file(Path.cwd()) or Path.cwd() / PROJECT_FILE


def write_settings(path: Path, settings: Sequence[tuple[str, str]]) -> list[tuple[str, Any]]:
    """Set dotted ``key, value`` pairs in the TOML file ``path`` at once, keeping comments.

    Returns:
        Each key with the value stored (typed as the schema says).

    Raises:
        ConfigError: A key is unknown, a value is wrong or a raw secret; nothing is written.
    """
    import tomlkit

    from memfun_core.config import load_config, parse_setting
    from memfun_core.errors import ConfigError, UserError

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    document = tomlkit.parse(old)
    stored: list[tuple[str, Any]] = []
    for key, value in settings:
        checked = parse_setting(key, value, source="memfun config set")
        *tables, leaf = key.lower().split(".")
        table: Any = document
        for name in tables:
            if name not in table:
                table[name] = tomlkit.table()
            table = table[name]
        typed: Any = checked
        if isinstance(checked, tuple):
            typed = list(cast("tuple[Any, ...]", checked))
        table[leaf] = typed
        stored.append((key, typed))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    try:
        load_config(files=[tmp], environ={})
    except ConfigError as error:  # named after the file the user knows, not the draft
        tmp.unlink()
        renamed = ConfigError(error.message.replace(str(tmp), str(path)), hint=error.hint)
        renamed.source, renamed.key = str(path), error.key
        raise renamed from None
    except UserError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return stored


def set_project_settings(
    settings: Sequence[tuple[str, str]],
) -> tuple[Path, list[tuple[str, Any]], str]:
    """Write ``settings`` into this project's ``memfun.toml``, keeping a trusted folder trusted.

    Returns:
        The file, what was stored (see :func:`write_settings`), and a note naming the settings
        that wait for ``memfun trust`` in an untrusted folder (empty when none do).
    """
    from memfun_cli._keep_trust import keeping_trust
    from memfun_core.config import project_loosened_settings
    from memfun_core.trust import inactive_reason

    path = project_file()
    with keeping_trust(path.parent):
        stored = write_settings(path, settings)
    reason = inactive_reason(path.parent)
    waiting = project_loosened_settings(path) if reason else []
    note = (
        f"note: {reason}, so Memfun refuses this memfun.toml until you run "
        f"`memfun trust {path.parent}`: it sets " + "; ".join(waiting)
        if waiting
        else ""
    )
    return path, stored, note
