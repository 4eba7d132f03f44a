"""Where a skill is installed from: parsing a source, reading a registry index, searching.

Sources (``memfun skill install SOURCE``):

* a local folder: ``./skills/release-notes``;
* a git repository with an optional ref and folder:
  ``git+https://host/repo.git@v1.2#subdir=skills/x`` (also ``git+http://`` and ``git+file://``);
* an archive: ``https://host/x.tar.gz``, ``./x.zip`` (``.zip``, ``.tar.gz``, ``.tgz``), with
  ``#sha256=<hex>`` to pin its hash and ``#subdir=`` to pick a folder inside it;
* a name, looked up in the configured registries (``[skills] registries``).

A registry index is JSON: ``{"skills": [{"name", "description", "version", "source",
"sha256"}]}``. Nothing here touches the network: fetching is the caller's (the CLI's) job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urljoin, urlsplit

from memfun_core.errors import NotFoundError, ValidationError

__all__ = [
    "RegistryEntry",
    "SkillSource",
    "SourceKind",
    "parse_index",
    "parse_source",
    "search_entries",
]

SourceKind = Literal["folder", "git", "archive", "registry"]
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_GIT_SCHEMES = frozenset({"https", "http", "file"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRAGMENT_KEYS = frozenset({"subdir", "sha256"})
_MAX_INDEX_ENTRIES = 10_000
_MAX_FIELD = 2_048


@dataclass(frozen=True, slots=True)
class SkillSource:
    """A parsed install source.

    Attributes:
        kind: ``folder``, ``git``, ``archive`` or ``registry``.
        location: The folder path, the repository URL (without ``git+``, ref or fragment),
            the archive URL or path, or the registry name.
        ref: The git branch, tag or commit (``git`` only).
        subdir: The folder of the repository or archive holding the skill.
        sha256: The archive's expected SHA-256 (lowercase hex).
    """

    kind: SourceKind
    location: str
    ref: str | None = None
    subdir: str | None = None
    sha256: str | None = None

    @property
    def remote(self) -> bool:
        """Whether fetching it needs the network (an http(s) URL)."""
        return urlsplit(self.location).scheme in ("http", "https")

    def spec(self) -> str:
        """The source written back as ``install`` reads it."""
        if self.kind in ("folder", "registry"):
            return self.location
        head = f"git+{self.location}" if self.kind == "git" else self.location
        if self.ref:
            head += f"@{self.ref}"
        fragment = "&".join(
            f"{key}={value}"
            for key, value in (("subdir", self.subdir), ("sha256", self.sha256))
            if value
        )
        return f"{head}#{fragment}" if fragment else head

    def pinned(self, *, ref: str | None = None, sha256: str | None = None) -> SkillSource:
        """This source with its ref or archive hash fixed (what the lock file records)."""
        return SkillSource(
            self.kind, self.location, ref or self.ref, self.subdir, sha256 or self.sha256
        )


def _bad(text: str, detail: str, hint: str) -> ValidationError:
    return ValidationError(f"{text!r}: {detail}", field="source", rule="source", hint=hint)


def _fragment(text: str, fragment: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in filter(None, fragment.split("&")):
        key, sep, value = item.partition("=")
        if not sep or key not in _FRAGMENT_KEYS or not value:
            raise _bad(text, f"unknown fragment {item!r}", "use #subdir=PATH and/or #sha256=HEX")
        found[key] = value
    sha = found.get("sha256")
    if sha is not None and not _SHA256.match(sha.lower()):
        raise _bad(text, "sha256 must be 64 hex digits", "copy the hash exactly")
    if sha is not None:
        found["sha256"] = sha.lower()
    return found


def _git(text: str) -> SkillSource:
    body, _, fragment = text[len("git+") :].partition("#")
    parts = urlsplit(body)
    if parts.scheme not in _GIT_SCHEMES:
        raise _bad(
            text,
            f"git over {parts.scheme or '(none)'!r} is not supported",
            "use git+https://host/repo.git@REF (or git+file:// for a local repository)",
        )
    if "@" in parts.netloc:
        raise _bad(text, "credentials in the URL are refused", "remove the user@ part")
    path, at, ref = parts.path.rpartition("@")
    if not at:
        path, ref = parts.path, ""
    location = parts._replace(path=path, query="", fragment="").geturl()
    extra = _fragment(text, fragment)
    if "sha256" in extra:
        raise _bad(text, "#sha256= applies to archives", "pin a git source with @COMMIT")
    return SkillSource("git", location, ref or None, extra.get("subdir"))


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def parse_source(text: str, *, cwd: Path) -> SkillSource:
    """Read an install source (see the module docstring for the forms).

    Args:
        text: The source as the user typed it (or as a lock file recorded it).
        cwd: The folder relative paths start from.

    Raises:
        ValidationError: A malformed source (an unsupported git transport, a bad fragment).
        NotFoundError: A path that does not exist and is not a skill name either.
    """
    text = text.strip()
    if text.startswith("git+"):
        return _git(text)
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        body, _, fragment = text.partition("#")
        if not _is_archive_name(urlsplit(body).path):
            raise _bad(
                text,
                "a URL must name a .zip, .tar.gz or .tgz archive",
                "for a git repository write git+https://host/repo.git@REF",
            )
        extra = _fragment(text, fragment)
        return SkillSource("archive", body, None, extra.get("subdir"), extra.get("sha256"))
    if scheme == "file" or (len(scheme) > 1 and "://" in text):
        raise _bad(text, f"the scheme {scheme!r} is not supported", "use https:// or a path")
    path_text, fragment = text, ""
    if not (cwd / text).exists() and "#" in text:
        path_text, _, fragment = text.partition("#")
    path = (cwd / path_text).absolute()
    if path.is_dir():
        if fragment:
            raise _bad(text, "a folder takes no #fragment", "name the skill folder itself")
        return SkillSource("folder", str(path))
    if path.is_file():
        extra = _fragment(text, fragment)
        return SkillSource("archive", str(path), None, extra.get("subdir"), extra.get("sha256"))
    if _NAME.match(text):
        return SkillSource("registry", text)
    raise NotFoundError(
        "skill source",
        text,
        hint="give a folder, an archive, git+https://...@REF, or a name from a registry",
    )


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One skill of a registry index.

    Attributes:
        name: The skill's name.
        description: What it does (searched by ``memfun skill search``).
        version: The version the registry offers.
        source: Where to install it from (an archive URL or a ``git+`` URL; relative sources
            are resolved against the index's own location).
        sha256: The archive's SHA-256, when the index gives one.
        registry: The index it came from.
    """

    name: str
    description: str
    version: str
    source: str
    sha256: str | None
    registry: str


def _field(item: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_FIELD:
        raise ValidationError(
            f"{key} must be a non-empty string of at most {_MAX_FIELD} characters",
            field=key,
            rule="registry-index",
            location=where,
        )
    return value.strip()


def _resolve(source: str, origin: str, *, remote: bool, where: str) -> str:
    if source.startswith("git+"):
        scheme = urlsplit(source[len("git+") :]).scheme
        if remote and scheme not in ("https", "http"):
            raise ValidationError(
                f"{source!r}: an index served over the network may only name http(s) sources",
                field="source",
                rule="registry-index",
                location=where,
            )
        return source
    if remote:
        resolved = urljoin(origin, source)
        if urlsplit(resolved).scheme not in ("https", "http"):
            raise ValidationError(
                f"{source!r}: an index served over the network may only name http(s) sources",
                field="source",
                rule="registry-index",
                location=where,
            )
        return resolved
    if urlsplit(source).scheme in ("https", "http"):
        return source
    return str((Path(origin).parent / source).absolute())


def parse_index(data: bytes, origin: str) -> tuple[RegistryEntry, ...]:
    """Read a registry index.

    Args:
        data: The JSON document.
        origin: Its URL or file path (relative sources are resolved against it; an index
            from a URL may not name local files).

    Raises:
        ValidationError: Not JSON, not the index shape, a bad field, a duplicate name.
    """
    remote = urlsplit(origin).scheme in ("http", "https")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(
            f"not JSON ({exc})", field="index", rule="registry-index", location=origin
        ) from None
    skills = cast("dict[str, Any]", document).get("skills") if isinstance(document, dict) else None
    if not isinstance(skills, list) or len(cast("list[Any]", skills)) > _MAX_INDEX_ENTRIES:
        raise ValidationError(
            f'must be an object with a "skills" list of at most {_MAX_INDEX_ENTRIES} entries',
            field="index",
            rule="registry-index",
            location=origin,
            hint='{"skills": [{"name": ..., "description": ..., "version": ..., "source": ...}]}',
        )
    entries: dict[str, RegistryEntry] = {}
    for raw in cast("list[Any]", skills):
        if not isinstance(raw, dict):
            raise ValidationError(
                "each skill must be an object", field="skills", rule="registry-index",
                location=origin,
            )  # fmt: skip
        item = cast("dict[str, Any]", raw)
        name = _field(item, "name", origin) or ""
        if not _NAME.match(name) or name in entries:
            raise ValidationError(
                f"{name!r} is not a skill name, or appears twice",
                field="name",
                rule="registry-index",
                location=origin,
            )
        sha = _field(item, "sha256", origin, required=False)
        if sha is not None and not _SHA256.match(sha.lower()):
            raise ValidationError(
                f"{name}: sha256 must be 64 hex digits",
                field="sha256",
                rule="registry-index",
                location=origin,
            )
        source = _field(item, "source", origin) or ""
        entries[name] = RegistryEntry(
            name=name,
            description=_field(item, "description", origin) or "",
            version=_field(item, "version", origin, required=False) or "",
            source=_resolve(source, origin, remote=remote, where=origin),
            sha256=sha.lower() if sha else None,
            registry=origin,
        )
    return tuple(entries.values())


def search_entries(entries: Iterable[RegistryEntry], query: str) -> list[RegistryEntry]:
    """Entries matching every word of ``query`` (in the name or description), best first.

    A word found in the name counts three times one found only in the description; an empty
    query matches everything, sorted by name.
    """
    words = [word for word in re.split(r"\W+", query.lower()) if word]
    scored: list[tuple[int, str, RegistryEntry]] = []
    for entry in entries:
        name, description = entry.name.lower(), entry.description.lower()
        score = 0
        for word in words:
            if word in name:
                score += 3
            elif word in description:
                score += 1
            else:
                score = -1
                break
        if score >= 0:
            scored.append((-score, entry.name, entry))
    return [entry for _, _, entry in sorted(scored, key=lambda item: item[:2])]
