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
    "COMPACT_EXTRACT_INSTRUCTIONS",
    "COMPACT_REASONING",
    "ESSENTIAL_TOOLS",
    "compact_action_instructions",
    "compact_notes",
]

COMPACT_CODING_INSTRUCTIONS = (
    "You are Memfun, a coding agent. Do the `task` in the repository that is the REPL's "
    "current directory."
)
"""The task instructions of the compact prompt (instead of ``CODING_INSTRUCTIONS``)."""

COMPACT_REASONING = "One or two short sentences: what you know now and what this code does."
"""The ``reasoning`` field's description in the compact prompt (DSPy's asks to think step by
step, which a small model answers with a long essay at a few tokens per second)."""

COMPACT_EXTRACT_INSTRUCTIONS = (
    "You explored a repository to do the task and your notes say what you found at each "
    "step: extract the final outputs now. Write the answer itself in plain words (a name, a "
    "value, a file path), taken from your notes. Never write code, never write SUBMIT(...)."
)
"""The extraction's instructions in the compact prompt, after ``stuck`` or the last step.

DSPy's extraction shows the whole REPL history, guidance included; a 1.5B model copied the
guidance's ``SUBMIT(answer="<your answer>", ...)`` as its answer although its own reasoning
had named the function two steps before. The compact extraction shows the task and the
model's notes only (:func:`compact_notes`)."""

_NOTE_OUTPUT_CHARS = 300
_GUIDANCE_PREFIX = "[memfun]"

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


def compact_notes(steps: Iterable[tuple[str, str]]) -> str:
    """The model's notes for the compact extraction: each step's reasoning and what it printed.

    Args:
        steps: ``(reasoning, output)`` of each step, oldest first.

    Returns:
        One paragraph a step; an output is cut to a few hundred characters, Memfun's own
        guidance is left out, and an output shown before is not repeated.
    """
    notes: list[str] = []
    seen: set[str] = set()
    for number, (reasoning, output) in enumerate(steps, start=1):
        kept = "\n".join(
            line for line in output.splitlines() if not line.startswith(_GUIDANCE_PREFIX)
        ).strip()
        note = f"Step {number}: {reasoning.strip()}"
        if kept and kept not in seen:
            seen.add(kept)
            cut = kept[:_NOTE_OUTPUT_CHARS] + (" ..." if len(kept) > _NOTE_OUTPUT_CHARS else "")
            note += f"\n  It printed: {cut}"
        notes.append(note)
    return "\n".join(notes)
