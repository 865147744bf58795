"""The whole pipeline: the ordered lowering passes, and compile = check, resolve, lower."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airspec.artifact import Artifact, Context
from airspec.diagnostics import Diagnostic
from airspec.frontend import check_spec
from airspec.passes.aws_iam_policy import iam_policy
from airspec.passes.aws_log_reader import log_reader
from airspec.passes.aws_trust_policy import trust_policy
from airspec.passes.cluster_prerequisites import cluster_prerequisites
from airspec.passes.eksctl_cluster import eksctl_cluster
from airspec.passes.gcp_cluster import gcp_cluster
from airspec.passes.gcp_iam_bindings import gcp_iam_bindings
from airspec.passes.helm_values import helm_values
from airspec.passes.k8s_manifests import k8s_manifests
from airspec.passes.runbook import runbook
from airspec.passes.software_commands import astro_commands
from airspec.passes.software_houston import houston_config
from airspec.resolved import ResolvedSpec, resolve

Pass = Callable[[ResolvedSpec, Context], list[Artifact]]

# The order is the pipeline: a pass sees the artifacts of the passes before it.
PASSES: tuple[Pass, ...] = (
    iam_policy,
    trust_policy,
    log_reader,
    eksctl_cluster,
    gcp_cluster,
    cluster_prerequisites,
    gcp_iam_bindings,
    helm_values,
    k8s_manifests,
    houston_config,
    astro_commands,
    runbook,
)


@dataclass(frozen=True)
class Compiled:
    """One spec's compile: its name and artifacts when it succeeded, and its diagnostics."""

    spec_path: Path
    diagnostics: tuple[Diagnostic, ...]
    resolved: ResolvedSpec | None = None
    artifacts: tuple[Artifact, ...] = ()

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


def compile_spec(path: Path, display: str, source: str) -> Compiled:
    """Check, resolve and lower one spec. `source` is the spec path written into headers."""
    checked = check_spec(path, display, for_compile=True)
    if not checked.ok:
        return Compiled(path, checked.diagnostics)
    resolved = resolve(checked, source)
    return Compiled(path, checked.diagnostics, resolved, lower(resolved))
