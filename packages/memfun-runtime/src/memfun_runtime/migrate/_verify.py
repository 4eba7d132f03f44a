"""Verification of a migration: counts and content hashes of every section, on both sides.

Each section is read from the source and from the target through the protocols into a map
from a record's key to the canonical JSON text of its content (see :mod:`._records`). Equal
maps are equal digests; a differing map names the first record that differs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_runtime.migrate._records import KINDS, STEPS, canonical, read_step

if TYPE_CHECKING:
    from memfun_runtime.migrate._inventory import Inventory
    from memfun_runtime.migrate._readable import Readable

__all__ = ["SECTIONS", "SectionCheck", "Verification", "verify"]

SECTIONS = tuple(
    step for step in STEPS if any(k.step == step and k.content for k in KINDS.values())
)
"""The steps whose records are compared (consumer groups are not)."""


@dataclass(frozen=True, slots=True)
class SectionCheck:
    """One section compared: counts, digests and the first difference found.

    Attributes:
        name: ``state``, ``sessions``, ``agents``, ``skills``, ``events`` or ``tasks``.
        source_count: Records in the source.
        target_count: Records in the target.
        source_digest: SHA-256 over the source's records.
        target_digest: SHA-256 over the target's records.
        difference: The first differing record (``None`` when the section matches).
    """

    name: str
    source_count: int
    target_count: int
    source_digest: str
    target_digest: str
    difference: str | None

    @property
    def ok(self) -> bool:
        """Whether the target holds exactly the source's records."""
        return self.difference is None


@dataclass(frozen=True, slots=True)
class Verification:
    """Every section's comparison."""

    sections: tuple[SectionCheck, ...]

    @property
    def ok(self) -> bool:
        """Whether every section matches."""
        return all(section.ok for section in self.sections)

    @property
    def differences(self) -> list[str]:
        """One line per section that does not match."""
        return [f"{s.name}: {s.difference}" for s in self.sections if s.difference is not None]


async def _section(name: str, backend: Readable, inventory: Inventory) -> dict[str, str]:
    out: dict[str, str] = {}
    numbers: Counter[str] = Counter()
    async for kind, record in read_step(name, backend, inventory):
        spec = KINDS[kind]
        if spec.key is None or spec.content is None:
            continue
        key = spec.key(record)
        if spec.numbered:
            index = numbers[key]
            numbers[key] += 1
            key = f"{key}#{index}"
        out[key] = canonical(spec.content(record))
    return out


def _digest(records: dict[str, str]) -> str:
    hasher = hashlib.sha256()
    for key in sorted(records):
        hasher.update(canonical([key, records[key]]).encode())
    return hasher.hexdigest()


def _difference(name: str, source: dict[str, str], target: dict[str, str]) -> str | None:
    for key in sorted(source.keys() | target.keys()):
        if key not in target:
            return f"{name} record {key!r} is missing in the target"
        if key not in source:
            return f"{name} record {key!r} is only in the target"
        if source[key] != target[key]:
            return f"{name} record {key!r} differs: {source[key][:200]} != {target[key][:200]}"
    return None


async def verify(source: Readable, target: Readable, inventory: Inventory) -> Verification:
    """Compare every section of two started runtimes (see the module docstring)."""
    checks: list[SectionCheck] = []
    for name in SECTIONS:
        ours = await _section(name, source, inventory)
        theirs = await _section(name, target, inventory)
        digests = _digest(ours), _digest(theirs)
        checks.append(
            SectionCheck(name, len(ours), len(theirs), *digests, _difference(name, ours, theirs))
        )
    return Verification(tuple(checks))
