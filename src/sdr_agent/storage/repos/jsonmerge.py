"""Deep merge for PATCH bodies: nested objects merge, ``None`` deletes a key, anything else replaces."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return a new dict; neither argument is modified.

    Iterative, not recursive: a config nested deeper than the interpreter's recursion limit (stored before
    the API bounded JSON depth) must still merge instead of raising RecursionError on every read."""
    merged: dict[str, Any] = json_copy(base)
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = [(merged, patch)]
    while pending:
        target, changes = pending.pop()
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                pending.append((target[key], value))  # target[key] is already our own copy
            else:
                # A brand-new subtree with null leaves means "absent", the same as on an existing one.
                target[key] = json_copy(value, strip_nulls=True)
    return merged


def json_copy(value: Any, *, strip_nulls: bool = False) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars) without recursion. ``strip_nulls`` drops ``None``
    values of objects reached through objects (lists are copied as they are, as before)."""
    if not isinstance(value, dict | list):
        return copy.copy(value)
    root: Any = {} if isinstance(value, dict) else []
    pending: list[tuple[Any, Any, bool]] = [(value, root, strip_nulls)]
    while pending:
        source, target, strip = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if strip and isinstance(source, dict) and item is None:
                continue
            child: Any
            if isinstance(item, dict):
                child = {}
                pending.append((item, child, strip and isinstance(source, dict)))
            elif isinstance(item, list):
                child = []
                pending.append((item, child, False))
            else:
                child = copy.copy(item)
            if isinstance(target, dict):
                target[key] = child
            else:
                target.append(child)
    return root


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
