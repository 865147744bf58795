"""The whole pipeline: the ordered lowering passes, and compile = check, resolve, lower."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airspec import codes, inputs
from airspec.artifact import Artifact, Context
from airspec.codes import make
from airspec.diagnostics import Diagnostic, has_errors
from airspec.frontend import check_artifacts, check_spec
from airspec.loader import SourceMap
from airspec.passes.aws_iam_policy import iam_policy
from airspec.passes.aws_log_reader import log_reader
from airspec.passes.aws_pod_identity import pod_identity_associations
from airspec.passes.aws_trust_policy import trust_policy
from airspec.passes.cluster_prerequisites import cluster_prerequisites
from airspec.passes.eksctl_cluster import eksctl_cluster
from airspec.passes.gcp_cluster import gcp_cluster
from airspec.passes.gcp_iam_bindings import gcp_iam_bindings
from airspec.passes.helm_values import helm_values
from airspec.passes.identity_graph import identity_graph
from airspec.passes.k8s_manifests import k8s_manifests
from airspec.passes.provider_image import provider_image
from airspec.passes.python_environments import python_environments
from airspec.passes.runbook import runbook
from airspec.passes.software_commands import astro_commands
from airspec.passes.software_houston import houston_config
from airspec.repo import project_root
from airspec.resolved import ResolvedSpec, resolve
from airspec.spec_paths import NoSpecs as NoSpecs  # apply imports the folder expansion
from airspec.spec_paths import expand_specs as expand_specs  # from here (moved, light)
from airspec.spec_paths import runbook_path, source_name

Pass = Callable[[ResolvedSpec, Context], list[Artifact]]

# The order is the pipeline: a pass sees the artifacts of the passes before it.
PASSES: tuple[Pass, ...] = (
    iam_policy,
    trust_policy,
    log_reader,
    pod_identity_associations,
    eksctl_cluster,
    gcp_cluster,
    cluster_prerequisites,
    gcp_iam_bindings,
    helm_values,
    python_environments,
    provider_image,
    k8s_manifests,
    houston_config,
    astro_commands,
    identity_graph,
    runbook,
)


@dataclass(frozen=True)
class Compiled:
    """One spec's compile: its name and artifacts when it succeeded, and its diagnostics."""

    spec_path: Path
    diagnostics: tuple[Diagnostic, ...]
    resolved: ResolvedSpec | None = None
    artifacts: tuple[Artifact, ...] = ()
    name_at: tuple[str, int, int] | None = None  # where metadata.name is written
    source: SourceMap | None = None  # where each field is written
    # the files the compile read (relative to the spec's folder) -> sha256, None if absent
    inputs: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.resolved is not None


def lower(resolved: ResolvedSpec) -> tuple[Artifact, ...]:
    """Run every pass in order; passes neither write files nor touch the network."""
    ctx = Context()
    for run in PASSES:
        ctx = Context(ctx.artifacts + tuple(run(resolved, ctx)))
    paths = [a.path for a in ctx.artifacts]
    if len(paths) != len(set(paths)):
        raise RuntimeError(f"two passes wrote the same path: {sorted(paths)}")
    return ctx.artifacts


def compile_spec(
    path: Path, display: str, source: str, spec_from_runbook: str | None = None
) -> Compiled:
    """Check, resolve and lower one spec. `source` is the spec path written into headers;
    `spec_from_runbook` the path the runbook's commands use (relative to out/<name>/)."""
    with inputs.recording(path) as read:
        checked = check_spec(path, display, for_compile=True)
        if not checked.ok:
            return Compiled(path, checked.diagnostics)
        resolved = resolve(checked, source, spec_from_runbook)
        artifacts = lower(resolved)
        measured = check_artifacts(checked, artifacts)
    diagnostics = tuple(sorted(set(checked.diagnostics) | set(measured)))
    if has_errors(measured):
        return Compiled(path, diagnostics)
    assert checked.doc is not None
    name_at = checked.doc.source.at(("metadata", "name"))
    return Compiled(path, diagnostics, resolved, artifacts, name_at, checked.doc.source, dict(read))


@dataclass(frozen=True)
class Batch:
    """Many specs compiled together: those that compiled (each name once), and every
    diagnostic."""

    root: Path  # the project the specs are named relative to (repo.project_root of out/)
    compiled: list[Compiled] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def compile_specs(specs: Sequence[Path], out: Path) -> Batch:
    """Compile each spec for the out folder `out`, naming it in headers relative to the
    project holding it; two specs naming the same `metadata.name` (one out/<name>/ tree, one
    set of live objects) is an error at the second one's name."""
    root = project_root(out)
    batch = Batch(root)
    first: dict[str, Path] = {}
    for spec in specs:
        result = compile_spec(
            spec, str(spec), source_name(spec, root), runbook_path(spec, root, out)
        )
        batch.diagnostics.extend(result.diagnostics)
        if result.resolved is None:
            continue
        name = result.resolved.name
        if name in first:
            assert result.name_at is not None
            batch.diagnostics.append(
                make(
                    codes.DUPLICATE_SPEC_NAME,
                    result.name_at,
                    f"metadata.name '{name}' is already used by {first[name]}",
                    "give each spec its own metadata.name: it names out/<name>/ and the live objects",
                )
            )
            continue
        first[name] = spec
        batch.compiled.append(result)
    batch.diagnostics.extend(shared_claims(batch.compiled))
    return batch


def shared_claims(compiled: Sequence[Compiled]) -> list[Diagnostic]:
    """AS225 at the later spec's field, once per pair of specs: the first live object both
    claim (`claims`). Another spec naming it is refused before anything is read."""
    from airspec.claims import claims

    seen: dict[tuple[str, ...], Compiled] = {}
    found: list[Diagnostic] = []
    reported: set[tuple[Path, Path]] = set()
    for result in compiled:
        r = result.resolved
        assert r is not None and result.source is not None
        for claim in claims(r, result.artifacts):
            other = seen.get(claim.key)
            if other is None:
                seen[claim.key] = result
                continue
            pair = (other.spec_path, result.spec_path)
            if other is result or pair in reported:
                continue
            reported.add(pair)
            assert other.resolved is not None
            found.append(
                make(
                    codes.SHARED_LIVE_OBJECT,
                    result.source.at(claim.path),
                    f"{claim.what} is also named by {other.spec_path} (metadata.name "
                    f"'{other.resolved.name}'); two specs would undo each other's changes",
                    "give each spec its own; an object both need (a bucket) is owned by one "
                    "spec and named, not owned, by the other",
                )
            )
    return found
