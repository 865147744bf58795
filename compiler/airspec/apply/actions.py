"""What `airspec apply` plans and runs: actions, their verbs, and what a builder sees.

A builder (one per kind of live object, in `converge_aws`, `converge_gcp`, `converge_kube`,
`converge_tools`) turns the findings about one live object into one Action; `converge`
orders, runs and reports them. An action's run records each mutating call in the list it
is given, as soon as the call succeeds, so a failed or interrupted action still says what it
changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from airspec.apply.findings import Finding
from airspec.apply.owner import Owner, Recorded, Standing
from airspec.artifact import Artifact, ArtifactKind
from airspec.live import readers as live
from airspec.pipeline import Compiled
from airspec.resolved import ResolvedSpec

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # eventual consistency, conflicts: bounded backoff


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"  # update an object this spec does not own, recording it as ours (--adopt)
    DELETE = "delete"  # an orphan this spec owns, with --prune
    REFUSED = "refused"  # exists, not made by airspec for this spec: only --adopt changes it
    CLAIMED = "claimed"  # recorded for another owner: never changed without --adopt
    UNREADABLE = "unreadable"  # could not be read, so nothing is decided for it
    PENDING = "pending"
    MANUAL = "manual"
    ORPHANED = "orphaned"  # this spec owns it, the spec no longer names it (no --prune)
    NOTE = "note"  # for the reader only: nothing to do, nothing left


# verbs that stop a run from being called successful: exit 1, not "drift left"
ERROR_VERBS = frozenset({Verb.CLAIMED, Verb.UNREADABLE})


class ApplyError(Exception):
    """A mutating call failed (after its retries)."""


Run = Callable[[list[str]], None]  # appends each mutating call it made, as it makes it


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
    shared_by: list[str] = field(default_factory=list)  # other specs naming a shared object


@dataclass(frozen=True)
class Options:
    adopt: bool = False
    with_tools: bool = False
    prune: bool = False


@dataclass(frozen=True)
class SpecView:
    """One compiled spec as a builder sees it: artifacts, clients, the out/ folder, and
    the owner identity it records on what it creates."""

    compiled: Compiled
    clients: live.Clients
    out: Path
    owner: Owner
    others: frozenset[str] = frozenset()  # GCP members of the other specs of this run
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)  # reads made once a run

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
        return self.owner.tags()

    def left(self, target: str, verb: Verb, summary: str, fs: list[Finding]) -> Action:
        """An action nothing is run for: refused, manual, pending without a tool."""
        return Action(self.r.name, target, verb, summary, fs)


# (spec, target, its artifact, the findings, whether the object is missing, options)
Builder = Callable[
    [SpecView, str, Artifact | None, list[Finding], bool, Options], Action | list[Action]
]


@dataclass(frozen=True)
class Decision:
    """May this spec change an existing object: UPDATE (it owns it) or ADOPT (--adopt; the
    summary prefix names the previous owner)."""

    verb: Verb
    note: str = ""

    def summary(self, text: str) -> str:
        return f"{self.note}{text}"


def ownership(
    s: SpecView, target: str, fs: list[Finding], o: Options, recorded: Recorded, what: str
) -> Decision | Action:
    """The one ownership rule (see `owner`): a Decision to go ahead, or the refusal."""
    standing = recorded.standing(s.owner)
    if standing is Standing.OURS:
        return Decision(Verb.UPDATE)
    if o.adopt:
        return Decision(Verb.ADOPT, f"take over {what} (previous owner: {recorded.who()}), then ")
    if standing is Standing.CLAIMED:
        summary = (
            f"{what} is claimed by another spec: its owner is '{recorded.owner}', this spec "
            f"is '{s.owner.identity}'; airspec never changes or prunes it (--adopt takes it over)"
        )
        return s.left(target, Verb.CLAIMED, summary, fs)
    summary = (
        f"{what} exists and this spec did not make it (owner: {recorded.who()}); "
        "rerun with --adopt to take it over"
    )
    return s.left(target, Verb.REFUSED, summary, fs)
