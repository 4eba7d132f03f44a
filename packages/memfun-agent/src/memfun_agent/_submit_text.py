"""An answer written as the ``SUBMIT(...)`` call the model meant to run, read back as values.

A small model that ends a run ``stuck`` (or at ``max_iterations``) often has its answer as
the text of the call it never ran: asked to extract its outputs, it writes
``SUBMIT(answer="8321", summary="no changes")`` as the answer. :func:`submitted_values`
reads such a text as Python without running it: only a single ``SUBMIT`` call whose
arguments are literals counts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["submitted_values", "unwrap_submitted"]

_FENCES = ("```python", "```py", "```")
_PLACEHOLDER = re.compile(r"<[^<>]*>|\.\.\.")


def _strip(text: str) -> str:
    body = text.strip()
    for fence in _FENCES:
        if body.startswith(fence) and body.endswith("```") and len(body) > len(fence) + 3:
            return body[len(fence) : -3].strip()
    return body.strip("`").strip()


def _is_placeholder(value: object) -> bool:
    return value is Ellipsis or (
        isinstance(value, str) and bool(_PLACEHOLDER.fullmatch(value.strip()))
    )


def _submit_call(text: str) -> ast.Call | None:
    body = _strip(text)
    if not body.startswith("SUBMIT("):
        return None
    try:
        call = ast.parse(body, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "SUBMIT":
        return call
    return None


def submitted_values(text: str, names: Sequence[str]) -> dict[str, Any] | None:
    """The values of a literal ``SUBMIT(...)`` call written as text, keyed by output name.

    Args:
        text: What the model gave as an output.
        names: The output fields, in order (positional arguments fill them in this order).

    Returns:
        The values it names, or ``None`` when ``text`` is not one ``SUBMIT`` call with
        literal arguments naming only these fields.
    """
    call = _submit_call(text)
    if call is None or len(call.args) > len(names):
        return None
    values: dict[str, Any] = {}
    try:
        for name, argument in zip(names, call.args, strict=False):
            values[name] = ast.literal_eval(argument)
        for keyword in call.keywords:
            if keyword.arg is None or keyword.arg not in names or keyword.arg in values:
                return None
            values[keyword.arg] = ast.literal_eval(keyword.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if any(_is_placeholder(value) for value in values.values()):
        return None  # the template it was shown (``answer="<your answer>"``), not an answer
    return values or None


def unwrap_submitted(outputs: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """``outputs`` with any field that holds a ``SUBMIT(...)`` text replaced by its values.

    The call's values win for the fields it names; the other fields keep what was extracted.
    """
    merged = dict(outputs)
    for name in names:
        value = merged.get(name)
        if isinstance(value, str):
            submitted = submitted_values(value, names)
            if submitted is not None:
                merged.update(submitted)
                break
    return merged
