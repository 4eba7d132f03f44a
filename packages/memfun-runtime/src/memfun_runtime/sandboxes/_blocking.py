"""The async half of a sandbox whose runs block: each call runs in a worker thread.

Local, Docker, Modal and wasm sandboxes do their work in blocking calls (``*_sync``); this
base class gives them the ``async`` methods of :class:`~memfun_runtime.protocols.SandboxAdapter`
once, instead of four copies of the same wrappers.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import TypeVar

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    NetworkPolicy,
    ReplSandbox,
    SandboxLimits,
    SandboxResult,
)

__all__ = ["BlockingSandbox", "for_language"]

T = TypeVar("T")


def for_language(table: Mapping[str, T], language: str) -> T:
    """Look up ``language`` in a sandbox's table of supported languages.

    Raises:
        ValidationError: The language is not in ``table``; the rule lists those that are.
    """
    try:
        return table[language]
    except KeyError:
        raise ValidationError(
            f"unsupported language {language!r}", field="language", rule=", ".join(sorted(table))
        ) from None


class BlockingSandbox(ReplSandbox):
    """A :class:`ReplSandbox` whose one-shot runs are blocking ``*_sync`` methods."""

    @abstractmethod
    def run_command_sync(
        self,
        argv: Sequence[str],
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
    ) -> SandboxResult:
        """Blocking form of :meth:`run_command`."""

    @abstractmethod
    def run_code_sync(
        self,
        code: str,
        *,
        language: str = "python",
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> SandboxResult:
        """Blocking form of :meth:`run_code`."""

    async def run_command(
        self,
        argv: Sequence[str],
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
    ) -> SandboxResult:
        """Run one command (no shell) in the sandbox, in a worker thread."""
        return await asyncio.to_thread(
            self.run_command_sync, argv, limits=limits, files=files, network=network,
            env=env, stdin=stdin, cwd=cwd,
        )  # fmt: skip

    async def run_code(
        self,
        code: str,
        *,
        language: str = "python",
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> SandboxResult:
        """Run a program given as source text in the sandbox, in a worker thread."""
        return await asyncio.to_thread(
            self.run_code_sync, code, language=language, limits=limits, files=files,
            network=network, env=env, stdin=stdin,
        )  # fmt: skip
