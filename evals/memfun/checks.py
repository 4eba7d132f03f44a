"""Python checkers of Memfun's own eval suite (called with a CheckContext)."""

from __future__ import annotations

import re
from typing import Any


def uses_item_value(context: Any) -> bool:
    """The refactor is real: both methods of Inventory call item_value, no product is left."""
    store = (context.workspace / "inventory" / "store.py").read_text(encoding="utf-8")
    body = "\n".join(line for line in store.splitlines() if "import" not in line)
    uses = len(re.findall(r"\bitem_value\b", body))
    return uses >= 2 and "quantity * item.unit_price" not in store


def old_names_gone(context: Any) -> bool:
    """The rename reached every module: no area_circle / area_square is left."""
    package = context.workspace / "shapes"
    text = "".join(p.read_text(encoding="utf-8") for p in package.glob("*.py"))
    return "area_circle" not in text and "area_square" not in text
