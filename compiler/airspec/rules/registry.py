"""The rule registry: every diagnostic code, its docs, and (for spec rules) its check."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airspec.diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from airspec.rules.context import RuleContext

Check = Callable[["RuleContext"], Iterable[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    """A diagnostic code with its explanation; `check` is set for rules over a parsed spec."""

    code: str
    name: str
    doc: str
    check: Check | None = None
    phase: str = "spec"  # "raw": runs on every loaded tree; "spec": only once the model parsed

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.name


REGISTRY: dict[str, Rule] = {}


def _add(rule: Rule) -> None:
    if rule.code in REGISTRY:
        raise RuntimeError(f"rule code {rule.code} registered twice")
    REGISTRY[rule.code] = rule


def declare(code: str, name: str, doc: str) -> str:
    """Register a code raised by the loader or the schema stage; returns the code."""
    _add(Rule(code, name, inspect.cleandoc(doc)))
    return code


def rule(code: str, name: str, phase: str = "spec") -> Callable[[Check], Check]:
    """Register a spec check; its docstring is what `airspec explain CODE` prints."""

    def wrap(fn: Check) -> Check:
        _add(Rule(code, name, inspect.cleandoc(fn.__doc__ or ""), fn, phase))
        return fn

    return wrap


def make(
    code: str,
    where: tuple[str, int, int],
    message: str,
    hint: str = "",
    severity: Severity = Severity.ERROR,
    **_: Any,
) -> Diagnostic:
    """Build a diagnostic for a registered code at `where` = (file, line, col)."""
    if code not in REGISTRY:
        raise KeyError(f"unregistered diagnostic code {code}")
    file, line, col = where
    return Diagnostic(file, line, col, code, message, hint, severity)


_RULE_MODULES = ("codes", "secrets", "references", "platform", "aws", "gcp", "providers")


def all_rules() -> dict[str, Rule]:
    """Every registered code, after importing each rule module once."""
    import importlib

    for name in _RULE_MODULES:
        importlib.import_module(f"airspec.rules.{name}")
    return dict(sorted(REGISTRY.items()))
