"""memfun-optimizer: learning from traces.

Subpackages: :mod:`memfun_optimizer.evals` (task suites and the eval runner, the metric of
every optimization) and :mod:`memfun_optimizer.stats` (trace analysis). The failure
taxonomy both use is exported here.
"""

from __future__ import annotations

from importlib.metadata import version as _version

from memfun_optimizer._taxonomy import (
    FAILURE_KINDS,
    FailureKind,
    failure_of_outcome,
    failure_of_trace,
)

__all__ = [
    "FAILURE_KINDS",
    "FailureKind",
    "__version__",
    "failure_of_outcome",
    "failure_of_trace",
]

__version__ = _version("memfun-optimizer")
