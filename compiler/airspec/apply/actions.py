"""What `airspec apply` plans and runs: actions, their verbs, and what a builder sees.

A builder (one per kind of live object, in `converge_aws`, `converge_gcp`, `converge_kube`,
`converge_tools`) turns the findings about one live object into one Action: data, like a
Terraform plan's change - its verb, the findings (before and after), and every call it will
make (`calls.Call`), decided from what the run read (`SpecView.raw`; the versions seen are
recorded in `SpecView.seen`). `converge` orders and runs them: the executor makes exactly
those calls and records each one as soon as it succeeds, so a failed or interrupted action
still says what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from airspec.apply.calls import Call
from airspec.apply.findings import Finding
from airspec.apply.owner import Owner, Recorded, Standing
from airspec.apply.seen import ABSENT, Seen, Version
from airspec.artifact import Artifact, ArtifactKind
from airspec.live import readers as live
from airspec.pipeline import Compiled
from airspec.resolved import ResolvedSpec


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


@dataclass
class Action:
    spec: str
    target: str
    verb: Verb
    summary: str
    findings: list[Finding]
    calls: list[Call] = field(default_factory=list)  # empty: nothing to run (refused, manual…)
    commands: list[str] = field(default_factory=list)  # pending / orphaned: commands to run
    cwd: Path | None = None
    done: list[str] = field(default_factory=list)  # calls made, filled in by execute()
    shared_by: list[str] = field(default_factory=list)  # other specs naming a shared object
    depends: list[str] = field(default_factory=list)  # other targets it was decided from
    needs: list[tuple[str, str]] = field(default_factory=list)  # (IAM action, resource) on AWS
    clients: live.Clients | None = field(default=None, repr=False, compare=False)

    @property
    def runnable(self) -> bool:
        return bool(self.calls)

    @property
    def destructive(self) -> bool:
        """Deletes an object, or removes a grant, an attachment or a field."""
        return self.verb is Verb.DELETE or any(c.destructive for c in self.calls)


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
    seen: Seen = field(default_factory=Seen, compare=False)  # what the run read
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

    def action(
        self, target: str, verb: Verb, summary: str, fs: list[Finding], calls: list[Call], **kw: Any
    ) -> Action:
        """An action that makes `calls` with this spec's clients."""
        return Action(self.r.name, target, verb, summary, fs, calls, clients=self.clients, **kw)

    def raw(self, target: str, read: Callable[[], Any], version: Callable[[Any], Version]) -> Any:
        """The live object `target` as this run's check read it; read now (and its version
        recorded) when no check did. Raises live.ReadError."""
        key = (self.r.name, target)
        if self.seen.has(key):
            return self.seen.raws[key]
        got = read()
        self.seen.record(key, got, ABSENT if got is None else version(got))
        return got

    def observe(self, target: str, part: str, value: str) -> None:
        """A part of `target`'s version read while deciding its action."""
        self.seen.add((self.r.name, target), part, value)


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
