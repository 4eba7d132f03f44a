"""memfun_agent.orchestrate's public API: every name resolves; importing it loads no DSPy."""

from __future__ import annotations

import subprocess
import sys

from memfun_agent import orchestrate


def test_every_exported_name_resolves() -> None:
    for name in orchestrate.__all__:
        assert getattr(orchestrate, name) is not None, name


def test_importing_the_package_and_its_plan_values_loads_no_dspy() -> None:
    code = (
        "import sys\n"
        "from memfun_agent.orchestrate import OrchestrationLimits, PlanNode, parse_plan\n"
        "print([m for m in ('dspy', 'litellm') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
