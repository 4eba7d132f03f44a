"""The step adapter formats exactly the messages DSPy's chat adapter does."""

from __future__ import annotations

from typing import Any

import dspy

from memfun_agent._agent_loop import StepAdapter
from memfun_agent._signature import coding_signature

_INPUTS: list[dict[str, Any]] = [
    {
        "task": "count",
        "workspace": "w" * 300,
        "repo_map": "",
        "skill_instructions": "",
        "project_instructions": "",
        "memories": "",
        "notes": "first",
    },
    {
        "task": "count again",
        "workspace": "v" * 20,
        "repo_map": "a.py:\n    1│def f(): ...",
        "skill_instructions": "be brief",
        "project_instructions": "use tabs",
        "memories": "[m1] tabs",
        "notes": "second",
    },
]


def test_every_message_is_the_chat_adapters() -> None:
    agent_signature = coding_signature(["notes"], instructions="Be careful.")
    other = coding_signature(["notes"], instructions="Be quick.")
    ours, dspys = StepAdapter(), dspy.ChatAdapter(use_json_adapter_fallback=False)
    for signature in (agent_signature, other, agent_signature):
        for inputs in _INPUTS:
            assert ours.format(signature, [], inputs) == dspys.format(signature, [], inputs)
    assert ours.format_system_message(other) != ours.format_system_message(agent_signature)
    assert "Be quick." in ours.format_system_message(other)
