"""Compare a normalized compiled object with a normalized live one, with deepdiff.

Every difference becomes a Finding at a readable path (`Statement[ReadTaskLogs].Action[2]`).
A difference that grants more than compiled is `broadening`, reported in its own section:
for IAM decided by what the statements grant (`grants`), for GCP bindings an added member,
role or unconditioned binding, for attachments and annotations any addition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from airspec.apply.findings import Finding, Status
from airspec.apply.grants import broadened_statements
from airspec.apply.redact import redact_at

Broadens = Callable[[str, list[Any], Any], bool]  # (deepdiff change, path, live value)
BroadeningRule = Callable[[Any, Any], Broadens]  # (compiled, live) normal forms -> Broadens


def format_path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif out and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(p)):
            out += f".{p}"
        elif not out and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(p)):
            out = str(p)
        else:
            out += f"[{p}]"
    return out


def diff(
    spec: str,
    artifact: str,
    target: str,
    compiled: Any,
    live: Any,
    *,
    broadening: BroadeningRule | None = None,
    secret_env: frozenset[str] = frozenset(),
    unordered: bool = False,
    free_form: bool = True,
) -> list[Finding]:
    """Findings for every difference between two normalized values.

    Normal forms sort what is unordered, so lists compare in order; with `unordered` a list
    item only on one side is reported at the list's path (its index in a sorted list means
    nothing to a reader). Both sides pass the redactor before they become a Finding
    (`free_form`: key names count; False for policy documents, whose keys are grammar).
    """
    if compiled == live:  # in sync, the common case: deepdiff is not even imported
        return []
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    broadens = None if broadening is None else broadening(compiled, live)
    dd = DeepDiff(compiled, live, view="tree", verbose_level=2, threshold_to_diff_deeper=0)
    findings: list[Finding] = []
    for change, items in sorted(dd.items()):
        for item in items:
            parts = item.path(output_format="list")
            if (
                unordered
                and change.startswith("iterable_item")
                and parts
                and isinstance(parts[-1], int)
            ):
                parts = parts[:-1]
            before = None if item.t1 is notpresent else item.t1
            after = None if item.t2 is notpresent else item.t2
            status = Status.DRIFT
            if broadens is not None and broadens(change, parts, after):
                status = Status.BROADENING
            findings.append(
                Finding(
                    spec=spec,
                    artifact=artifact,
                    target=target,
                    status=status,
                    path=format_path(parts),
                    compiled=redact_at(
                        before, parts, [compiled], secret_env=secret_env, keys=free_form
                    ),
                    live=redact_at(after, parts, [live], secret_env=secret_env, keys=free_form),
                    message=_MESSAGES.get(change, change.replace("_", " ")),
                )
            )
    return sorted(findings, key=lambda f: f.path)


_MESSAGES = {
    "values_changed": "value differs",
    "type_changes": "type differs",
    "dictionary_item_added": "only live",
    "dictionary_item_removed": "only compiled",
    "iterable_item_added": "only live",
    "iterable_item_removed": "only compiled",
    "set_item_added": "only live",
    "set_item_removed": "only compiled",
}
_ADDED = {"dictionary_item_added", "iterable_item_added", "set_item_added"}


def _added(change: str, parts: list[Any], value: Any) -> bool:
    return change in _ADDED


def added_broadening(compiled: Any, live: Any) -> Broadens:
    """For objects where more is wider (attachments, client ids, annotations): an addition."""
    return _added


def _has_wildcard(value: Any) -> bool:
    if isinstance(value, str):
        return "*" in value
    if isinstance(value, dict):
        return any(_has_wildcard(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_wildcard(v) for v in value)
    return False


def iam_broadening(compiled: Any, live: Any) -> Broadens:
    """IAM documents: a difference inside a statement that grants more than compiled (by
    meaning: `grants.broadened_statements`) is broadening; any other difference is drift."""
    wider = broadened_statements(compiled, live)

    def broadens(change: str, parts: list[Any], value: Any) -> bool:
        return len(parts) >= 2 and parts[0] == "Statement" and parts[1] in wider

    return broadens


def gcp_broadening(compiled: Any, live: Any) -> Broadens:
    """A GCP binding difference that grants more: a member, role or unconditioned binding."""

    def broadens(change: str, parts: list[Any], value: Any) -> bool:
        return _added(change, parts, value) or (change == "values_changed" and _has_wildcard(value))

    return broadens
