"""What `airspec apply` plans and runs: actions, their verbs, and what a builder sees.

A builder (one per kind of live object, in `converge_aws`, `converge_gcp`, `converge_kube`,
`converge_tools`) turns the findings about one live object into one Action; `converge`
orders, runs and reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from airspec.apply.findings import Finding
from airspec.artifact import Artifact, ArtifactKind
from airspec.live import readers as live
from airspec.pipeline import Compiled
from airspec.resolved import ResolvedSpec

TAG_SPEC = "airspec.io/spec"  # the spec file, relative to the project
TAG_NAME = "airspec.io/name"  # the spec's metadata.name: what ownership is checked against
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # eventual consistency, conflicts: bounded backoff


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"  # update an object airspec did not create, after tagging it (--adopt)
    DELETE = "delete"  # an orphan airspec created, with --prune
    REFUSED = "refused"
    PENDING = "pending"
    MANUAL = "manual"
    ORPHANED = "orphaned"  # airspec created it, the spec no longer names it (no --prune)


class ApplyError(Exception):
    """A mutating call failed (after its retries)."""


Run = Callable[[], list[str]]


@dataclass
class Action:
    spec: str
    target: str
    verb: Verb
    summary: str
    findings: list[Finding]
    run: Run | None = None  # None: nothing to execute (refused, manual, pending w/o tool)
    commands: list[str] = field(default_factory=list)  # pending / orphaned: commands to run
    cwd: Path | None = None
    done: list[str] = field(default_factory=list)  # calls made, filled in by execute()


@dataclass(frozen=True)
class Options:
    adopt: bool = False
    with_tools: bool = False
    prune: bool = False


@dataclass(frozen=True)
class SpecView:
    """One compiled spec as a builder sees it: artifacts, clients, the out/ folder."""

    compiled: Compiled
    clients: live.Clients
    out: Path

    @property
    def r(self) -> ResolvedSpec:
        assert self.compiled.resolved is not None
        return self.compiled.resolved

    def artifact(self, path: str) -> Artifact | None:
        return next((a for a in self.compiled.artifacts if a.path == path), None)

    def find(self, kind: ArtifactKind) -> Artifact | None:
        return next((a for a in self.compiled.artifacts if a.kind is kind), None)

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_SPEC: self.r.source, TAG_NAME: self.r.name}

    def left(self, target: str, verb: Verb, summary: str, fs: list[Finding]) -> Action:
        """An action nothing is run for: refused, manual, pending without a tool."""
        return Action(self.r.name, target, verb, summary, fs)


# (spec, target, its artifact, the findings, whether the object is missing, options)
Builder = Callable[
    [SpecView, str, Artifact | None, list[Finding], bool, Options], Action | list[Action]
]


def ownership(
    s: SpecView, target: str, fs: list[Finding], o: Options, owner: str | None
) -> Verb | Action:
    """UPDATE when this spec created the object (`owner` is its recorded spec name); ADOPT
    with --adopt; else a refusal."""
    if owner == s.r.name:
        return Verb.UPDATE
    if o.adopt:
        return Verb.ADOPT
    who = f"spec '{owner}'" if owner else "not airspec"
    return s.left(
        target,
        Verb.REFUSED,
        f"exists and was created by {who}; rerun with --adopt to take it over",
        fs,
    )
