"""The compact prompt for small local models: short rules, the essential tools, one example.

DSPy's RLM instructions, Memfun's coding instructions and the full tool list come to about
11,000 characters before the task. A 1.5B model on a CPU reads that in minutes and then
copies parts of it (a skill's headings, the sub-agent API) instead of exploring. The compact
prompt says only what such a model needs to take a step, in about a third of the size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from memfun_agent.tools import ToolSpec, describe

__all__ = [
    "COMPACT_CODING_INSTRUCTIONS",
    "COMPACT_REASONING",
    "ESSENTIAL_TOOLS",
    "compact_action_instructions",
]

COMPACT_CODING_INSTRUCTIONS = (
    "You are Memfun, a coding agent. Do the `task` in the repository that is the REPL's "
    "current directory."
)
"""The task instructions of the compact prompt (instead of ``CODING_INSTRUCTIONS``)."""

COMPACT_REASONING = "One or two short sentences: what you know now and what this code does."
"""The ``reasoning`` field's description in the compact prompt (DSPy's asks to think step by
step, which a small model answers with a long essay at a few tokens per second)."""

ESSENTIAL_TOOLS = ("fs_read", "fs_glob", "search_text", "fs_edit", "fs_write", "shell", "verify")
"""Tools listed with their signature in the compact prompt; the others are named only."""

_EXAMPLE = """Example (another repository; task "Where is the retry limit set?"):
[[ ## reasoning ## ]]
The repo map lists net/client.py. Read it.
[[ ## code ## ]]
```python
print(open("net/client.py").read())
```
[[ ## completed ## ]]
Next turn, after reading the printed file:
[[ ## reasoning ## ]]
Line 12 of net/client.py sets MAX_RETRIES = 5. That answers the task.
[[ ## code ## ]]
```python
SUBMIT({submit_example})
```
[[ ## completed ## ]]"""


def _submit_example(outputs: Sequence[str]) -> str:
    values = {
        "answer": '"MAX_RETRIES = 5, in net/client.py line 12"',
        "summary": '"no changes"',
    }
    return ", ".join(f"{name}={values.get(name, '...')}" for name in outputs)


def compact_action_instructions(
    *,
    task_instructions: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    tools: Iterable[ToolSpec],
    other_tools: Iterable[str],
) -> str:
    """The action instructions of the compact prompt.

    Args:
        task_instructions: The signature's instructions (what the agent is for).
        inputs: The input names (REPL variables).
        outputs: The output names (``SUBMIT``'s arguments).
        tools: The tools listed with their signature and description.
        other_tools: More tool names, listed by name only.
    """
    variables = ", ".join(f"`{name}`" for name in inputs)
    submit = ", ".join(f"{name}=..." for name in outputs)
    others = ", ".join(other_tools)
    lines = [
        task_instructions.strip(),
        "",
        "You work in a Python REPL. Each turn, write [[ ## reasoning ## ]] (one or two short "
        "sentences) and [[ ## code ## ]] (Python in a ```python block). The code runs; next "
        "turn you see what it printed.",
        "",
        "Rules:",
        f"- These variables are already defined: {variables}. `repo_map` lists the main files "
        "and their functions.",
        "- The repository is the current directory (read-only): read files with "
        "open(path).read() or the tools.",
        "- `skill_instructions` and `project_instructions`, when shown, are advice for you: "
        "follow them, never copy them into your code.",
        "- print() what you want to see: code that prints nothing shows nothing.",
        "- Tools are Python functions that return JSON values (dict, list, str); a failed call "
        "raises ToolError. Arguments after `*` must be passed by name.",
        "- Change files only with fs_edit or fs_write.",
        f"- When you know the answer, call SUBMIT({submit}) in a turn of its own"
        + (
            ": `answer` is your reply to the user, `summary` what you changed "
            '("no changes" if nothing).'
            if {"answer", "summary"} <= set(outputs)
            else "."
        ),
        "- Never run the same code twice: once the output shows what the task asks, SUBMIT.",
        "- If a step fails, read the error and try something different.",
        "",
        "Tools:",
        describe(tools),
    ]
    if others:
        lines.append(f"More tools, called the same way: {others}.")
    lines += ["", _EXAMPLE.format(submit_example=_submit_example(outputs))]
    return "\n".join(lines)
