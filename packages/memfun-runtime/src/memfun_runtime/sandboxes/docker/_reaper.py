"""Finding and removing containers whose owning Memfun process is gone."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from memfun_runtime.sandboxes.docker._spec import LABEL_HOST, LABEL_PID, LABEL_SANDBOX

__all__ = ["ContainerInfo", "pid_alive", "reap", "stale_containers"]


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """What the reaper needs of one container: its id and labels."""

    id: str
    labels: Mapping[str, str]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (``EPERM`` counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_containers(
    containers: Iterable[ContainerInfo],
    *,
    host: str,
    is_alive: Callable[[int], bool],
    keep_pid: int | None = None,
) -> list[str]:
    """Ids of Memfun sandbox containers owned by a dead process on ``host`` (a pure function).

    A container is stale only if it carries ``memfun.sandbox=1``, names ``host`` as its
    owner's host, and its owner pid is a valid number that is not alive (and not
    ``keep_pid``). Containers of other hosts or with unreadable labels are never touched:
    their owner cannot be judged from here.
    """
    stale: list[str] = []
    for info in containers:
        labels = info.labels
        if labels.get(LABEL_SANDBOX) != "1" or labels.get(LABEL_HOST) != host:
            continue
        try:
            pid = int(labels.get(LABEL_PID, ""))
        except ValueError:
            continue
        if pid <= 0 or pid == keep_pid or is_alive(pid):
            continue
        stale.append(info.id)
    return stale


def reap(
    client: Any, *, gone: tuple[type[BaseException], ...], host: str | None = None
) -> list[str]:
    """Remove (forcibly) this host's sandbox containers whose owner died; return their ids.

    Args:
        client: A ``docker.DockerClient``.
        gone: The SDK's "no such container" errors (another reaper may be faster).
        host: Owner host name to judge (default: this host's name).
    """
    found = client.containers.list(all=True, filters={"label": f"{LABEL_SANDBOX}=1"})
    infos = [ContainerInfo(id=str(c.id), labels=dict(c.labels or {})) for c in found]
    stale = stale_containers(
        infos, host=host or socket.gethostname(), is_alive=pid_alive, keep_pid=os.getpid()
    )
    by_id = {str(c.id): c for c in found}
    for container_id in stale:
        try:
            by_id[container_id].remove(force=True)
        except gone:
            continue
    return stale
