"""Kubernetes values written one way, for the passes and the rules alike."""

from __future__ import annotations

import re
from decimal import Decimal

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


_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Kubernetes' quantity grammar: a non-negative decimal, then an exponent, a decimal SI
# suffix or a binary suffix (`2GB` and `16ki` are not quantities)
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")


def quantity_value(value: str | int | float) -> Decimal | None:
    """A quantity in base units (cores, bytes), or None when it is not one."""
    match = QUANTITY.match(quantity_text(value))
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    if suffix in _SUFFIX:
        return Decimal(number) * _SUFFIX[suffix]
    return Decimal(number + suffix)  # an exponent: 1e3
