"""Kubernetes values written one way, for the passes and the rules alike."""

from __future__ import annotations

CONSTRAINTS_FILE = "constraints.txt"  # the key in the provider-constraints ConfigMap


def quantity_text(value: str | int | float) -> str:
    """A quantity as Kubernetes writes it: numbers become their shortest decimal text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return format(value, "g") if value != int(value) else str(int(value))
    return value
