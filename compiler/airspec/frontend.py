"""The front end: spec file -> loaded tree -> schema -> frozen model -> rules -> diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from airspec import codes
from airspec.artifact import Artifact
from airspec.codes import make
from airspec.diagnostics import Diagnostic, DiagnosticsError, has_errors
from airspec.loader import Document, load_document
from airspec.lock import read_lock
from airspec.model import Spec
from airspec.rules import all_rules
from airspec.rules.context import RuleContext
from airspec.rules.secrets import secret_paths
from airspec.schema_check import schema_diagnostics


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one spec: the model if it parsed, and every diagnostic."""

    path: Path
    display: str
    doc: Document | None = None
    spec: Spec | None = None
    lock: dict[str, Any] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.spec is not None and not has_errors(self.diagnostics)


def _run(phase: str, ctx: RuleContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for rule in all_rules().values():
        if rule.check is not None and rule.phase == phase:
            found.extend(rule.check(ctx))
    return found


def check_artifacts(checked: Checked, artifacts: tuple[Artifact, ...]) -> list[Diagnostic]:
    """The rules that measure what a checked spec lowered to (phase "artifacts")."""
    assert checked.doc is not None and checked.spec is not None
    return _run("artifacts", RuleContext(checked.doc, checked.spec, checked.lock, artifacts))


def _model_diagnostics(doc: Document, exc: ValidationError) -> list[Diagnostic]:
    out = []
    for err in exc.errors():
        path = tuple(p for p in err["loc"] if isinstance(p, str | int))
        out.append(
            make(
                codes.MODEL_ERROR,
                doc.source.at(path),
                f"'{'.'.join(map(str, path))}': {err['msg']}",
            )
        )
    return out


def check_spec(path: Path, display: str | None = None, *, for_compile: bool = False) -> Checked:
    """Check one spec file completely; never raises for a problem in the spec."""
    shown = display or str(path)
    try:
        doc = load_document(path, shown)
    except DiagnosticsError as exc:
        return Checked(path, shown, diagnostics=tuple(exc.diagnostics))
    found = list(doc.problems) + _run("raw", RuleContext(doc))
    found += schema_diagnostics(doc.data, doc.source, set(secret_paths(doc.data)))
    if has_errors(found):
        return Checked(path, shown, doc, diagnostics=tuple(sorted(set(found))))
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        found += _model_diagnostics(doc, exc)
        return Checked(path, shown, doc, diagnostics=tuple(sorted(set(found))))
    cluster = spec.cloud.aws.cluster.name if spec.cloud.aws else None
    lock, lock_problems = read_lock(path, cluster)
    found += lock_problems
    ctx = RuleContext(doc, spec, lock)
    found += _run("spec", ctx)
    if for_compile and not has_errors(found):
        found += _run("compile", ctx)
    return Checked(path, shown, doc, spec, lock, tuple(sorted(set(found))))
