"""The front end: spec file -> loaded tree -> schema -> frozen model -> rules -> diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from airspec import codes
from airspec.artifact import Artifact
from airspec.codes import make
from airspec.diagnostics import Diagnostic, DiagnosticsError, has_errors
from airspec.loader import Document, load_document
from airspec.lock import read_lock
from airspec.model import Spec
from airspec.partial import Unparsed, partial_spec, touched_unparsed
from airspec.rules import all_rules
from airspec.rules.context import RuleContext
from airspec.rules.secrets import secret_paths
from airspec.schema_check import schema_diagnostics

if TYPE_CHECKING:
    from airspec.environments import Environment


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one spec: the model if it parsed, and every diagnostic."""

    path: Path
    display: str
    doc: Document | None = None
    spec: Spec | None = None
    lock: dict[str, Any] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    # the components' environments as the compile rules computed them (AS204), or None when
    # no rule did: resolve computes them then
    environments: tuple[Environment, ...] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not has_errors(self.diagnostics)


def _run(phase: str, ctx: RuleContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for rule in all_rules().values():
        if rule.check is not None and rule.phase == phase:
            try:
                for diag in rule.check(ctx):
                    found.append(diag)
            except Unparsed:  # the rule reads a part that did not parse (already reported)
                continue
            except TypeError as exc:  # ... through C code (re.match), which names the type
                if not touched_unparsed(exc):
                    raise
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


def _lock_of(path: Path, spec: Spec) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The lock file's values for this spec's cluster (any cluster when its name did not parse)."""
    try:
        cluster = spec.cloud.aws.cluster.name if spec.cloud.aws else None
        str(cluster)
    except Unparsed:
        cluster = None
    return read_lock(path, cluster)


def check_spec(path: Path, display: str | None = None, *, for_compile: bool = False) -> Checked:
    """Check one spec file completely; never raises for a problem in the spec."""
    shown = display or str(path)
    try:
        doc = load_document(path, shown)
    except DiagnosticsError as exc:
        return Checked(path, shown, diagnostics=tuple(exc.diagnostics))
    found = list(doc.problems) + _run("raw", RuleContext(doc))
    found += schema_diagnostics(doc.data, doc.source, set(secret_paths(doc.data)))
    spec = None
    if not has_errors(found):
        try:
            spec = Spec.model_validate(doc.data)
        except ValidationError as exc:
            found += _model_diagnostics(doc, exc)
    if spec is None:  # every problem in one round: the cross-field rules on what parsed
        partial = partial_spec(doc.data)
        if partial is not None:
            lock, lock_problems = _lock_of(path, partial)
            found += lock_problems + _run("spec", RuleContext(doc, partial, lock))
        return Checked(path, shown, doc, diagnostics=tuple(sorted(set(found))))
    lock, lock_problems = _lock_of(path, spec)
    found += lock_problems
    ctx = RuleContext(doc, spec, lock)
    found += _run("spec", ctx)
    if for_compile and not has_errors(found):
        found += _run("compile", ctx)
    diagnostics = tuple(sorted(set(found)))
    return Checked(path, shown, doc, spec, lock, diagnostics, ctx.computed.get("environments"))
