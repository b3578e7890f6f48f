"""Deep merge for PATCH bodies: nested objects merge, ``None`` deletes a key, anything else replaces."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return a new dict; neither argument is modified."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif isinstance(value, dict):
            merged[key] = _without_nulls(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    # A brand-new subtree with null leaves means "absent", the same as on an existing one.
    return {k: (_without_nulls(v) if isinstance(v, dict) else copy.deepcopy(v)) for k, v in value.items()
            if v is not None}


def get_path(tree: dict[str, Any], *path: str, default: Any = None) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def set_path(tree: dict[str, Any], value: Any, *path: str) -> None:
    """Set ``tree[path[0]]...[path[-1]] = value`` in place, creating (or replacing non-dict) levels."""
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
