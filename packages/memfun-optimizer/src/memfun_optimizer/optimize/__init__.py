"""Program optimization: compile the agent's DSPy program with MIPROv2 or GEPA.

Eval suites (and the answers of solved recorded runs) become DSPy examples, the eval
checker is the metric, the compiled instructions and demos are stored versioned in the
data folder (:class:`ProgramStore`), compared with a bootstrap interval on held-out tasks
(:func:`compare_programs`), and promoted explicitly; ``RLMAgent.from_config`` then runs the
promoted one. Importing this package imports DSPy.
"""

from __future__ import annotations

from memfun_optimizer.optimize._compare import Comparison, bootstrap_interval, compare_programs
from memfun_optimizer.optimize._compile import (
    OPTIMIZERS,
    Optimizer,
    OptimizeResult,
    optimize_program,
    score_program,
)
from memfun_optimizer.optimize._data import (
    answer_of_trace,
    examples_from_suite,
    feedback_metric,
    labels_from_traces,
    score_metric,
    split_tasks,
)
from memfun_optimizer.optimize._module import (
    AgentModule,
    ProgramRunner,
    TaskRun,
    program_of,
    suite_runner,
)
from memfun_optimizer.optimize._store import ProgramStore, ProgramVersion

__all__ = [
    "OPTIMIZERS",
    "AgentModule",
    "Comparison",
    "OptimizeResult",
    "Optimizer",
    "ProgramRunner",
    "ProgramStore",
    "ProgramVersion",
    "TaskRun",
    "answer_of_trace",
    "bootstrap_interval",
    "compare_programs",
    "examples_from_suite",
    "feedback_metric",
    "labels_from_traces",
    "optimize_program",
    "program_of",
    "score_metric",
    "score_program",
    "split_tasks",
    "suite_runner",
]
