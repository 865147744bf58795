"""Findings: one difference between a compiled artifact and the live object, and the report.

The JSON form (`airspec apply --format json`) is versioned by REPORT_VERSION and described by
`schemas/drift-report.schema.json`, generated from these models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = "airspec.drift/v1"


class Status(StrEnum):
    MISSING = "missing"  # the live object does not exist
    DRIFT = "drift"  # it exists and differs
    BROADENING = "broadening"  # it grants more than compiled: security-relevant drift
    ERROR = "error"  # it could not be read


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(_Frozen):
    """One difference at one JSON path of one artifact."""

    spec: str = Field(description="metadata.name of the spec")
    artifact: str = Field(description="path under out/<name>/, or 'spec:buckets'")
    target: str = Field(description="the live object: service/type/id")
    status: Status
    path: str = Field(description="JSON path inside the normalized object; '' for all of it")
    compiled: Any = Field(default=None, description="compiled value (redacted if secret)")
    live: Any = Field(default=None, description="live value (redacted if secret)")
    message: str = ""
    suppressed: str | None = Field(
        default=None, description="the .airspecignore reason that accepted this finding"
    )


class Counts(_Frozen):
    checked: int = Field(description="live objects read")
    in_sync: int
    missing: int
    drift: int
    broadening: int
    error: int
    suppressed: int


class ErrorInfo(_Frozen):
    """Why a run stopped before (or while) reading or changing live state."""

    kind: str = Field(
        description="usage | spec | identity | owner | stale | read | refused | failed | "
        "interrupted | plan"
    )
    message: str
    diagnostics: list[dict[str, Any]] = Field(
        default_factory=list, description="spec diagnostics, as `validate --format json`"
    )


class Report(_Frozen):
    """What `airspec apply --dry-run --format json` prints."""

    version: str = REPORT_VERSION
    specs: list[str]
    stale: list[str] = Field(default_factory=list, description="out/ files that are not current")
    counts: Counts
    findings: list[Finding] = Field(description="unsuppressed findings, security-relevant first")
    suppressed: list[Finding] = Field(default_factory=list)
    error: ErrorInfo | None = Field(
        default=None, description="set when the run stopped before a complete report"
    )


EMPTY_COUNTS = Counts(checked=0, in_sync=0, missing=0, drift=0, broadening=0, error=0, suppressed=0)


def _json_schema(model: type[BaseModel], name: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://airspec.dev/schemas/{name}.schema.json"
    schema["title"] = title
    return schema


def report_json_schema() -> dict[str, Any]:
    return _json_schema(Report, "drift-report", f"airspec drift report ({REPORT_VERSION})")


# --- apply (without --dry-run) -----------------------------------------------------------------

APPLY_VERSION = "airspec.apply/v1"


class PlannedAction(_Frozen):
    spec: str = Field(description="metadata.name of the spec (the first, for a shared object)")
    target: str = Field(description="the live object: service/type/id")
    action: str = Field(
        description="create | update | adopt | delete | refused | claimed | unreadable | "
        "pending | manual | orphaned | note"
    )
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list, description="what a person runs")
    calls: list[str] = Field(
        default_factory=list, description="mutating calls made (a failed action's included)"
    )
    shared_by: list[str] = Field(
        default_factory=list, description="other specs naming this shared object"
    )


class FailedAction(_Frozen):
    target: str
    error: str
    calls: list[str] = Field(description="calls that succeeded before it failed")


class ApplyResult(_Frozen):
    """Every live object the run read or planned, by what became of it."""

    applied: list[str]
    failed: FailedAction | None = None
    interrupted: bool = False
    not_run: list[str] = Field(description="runnable actions after the failure, not started")
    unreadable: list[str] = Field(description="could not be read: nothing decided")
    claimed: list[str] = Field(description="recorded for another spec's owner")
    refused: list[str] = Field(description="not made by this spec (needs --adopt)")
    left: list[str] = Field(description="pending, manual and orphaned: the user's step")
    in_sync: list[str] = Field(default_factory=list, description="read and already as compiled")
    notes: list[str] = Field(
        default_factory=list, description="for the reader: nothing to do, nothing left"
    )


class Moved(_Frozen):
    """Something the plan was made from that is different now."""

    what: str = Field(description="an out/ file, a live object, an action, the owner")
    planned: str
    now: str


class PlanCheck(_Frozen):
    """`apply plan.json`: which plan, and what moved since it was made (refused if any)."""

    path: str
    digest: str
    created: str
    moved: list[Moved] = Field(default_factory=list)


class ApplyDocument(_Frozen):
    """What `airspec apply --format json` (without --dry-run) prints: one document."""

    version: str = APPLY_VERSION
    specs: list[str] = Field(default_factory=list)
    owners: dict[str, str] = Field(
        default_factory=dict, description="spec -> the owner identity recorded on its objects"
    )
    plan: list[PlannedAction] = Field(default_factory=list)
    result: ApplyResult | None = None
    error: ErrorInfo | None = None
    plan_file: PlanCheck | None = Field(
        default=None, description="apply plan.json: the plan applied, or what moved since"
    )


def apply_json_schema() -> dict[str, Any]:
    return _json_schema(ApplyDocument, "apply-result", f"airspec apply result ({APPLY_VERSION})")


# --- a saved plan (`apply --plan-out plan.json`) ----------------------------------------------

PLAN_VERSION = "airspec.plan/v1"


class PlanRequest(_Frozen):
    """What the plan was asked for: `apply plan.json` reads and decides again with exactly
    these (paths as given, relative to the folder the plan was made in)."""

    specs: list[str]
    out: str
    targets: list[str] | None = None
    context: str | None = Field(default=None, description="kubeconfig context")
    ignore_file: str | None = None
    adopt: bool = False
    prune: bool = False
    with_tools: bool = False


class Tree(_Frozen):
    """An out/<name>/ tree as the plan was made from it."""

    digest: str = Field(description="sha256 of every file's path and sha256, in path order")
    files: dict[str, str] = Field(description="path under out/<name>/ -> sha256 of its bytes")


class ReadVersion(_Frozen):
    """The identity of the live version of one object the plan read."""

    spec: str
    target: str
    version: dict[str, str] = Field(
        description="named parts: the API's version id (policy default version, "
        "resourceVersion, etag, Helm revision) or a digest of what was read; "
        "{'state': 'absent'|'unreadable'|'present'}"
    )


class PlanCall(_Frozen):
    call: str = Field(description="the call as listed once made")
    op: str = Field(description="api:operation, e.g. aws:iam:CreatePolicyVersion, gcp:setIamPolicy")
    args: dict[str, Any] = Field(description="its arguments, redacted as reports are")
    destructive: bool = False
    digest: str = Field(description="sha256 of everything the call sends (before redaction)")


class PlanStep(_Frozen):
    """One action of the plan: its calls, and the before (live) and after (compiled) values."""

    spec: str
    target: str
    action: str = Field(
        description="create | update | adopt | delete | refused | claimed | unreadable | "
        "pending | manual | orphaned"
    )
    summary: str
    destructive: bool = Field(
        default=False, description="deletes an object or removes a grant, attachment or field"
    )
    removes_broadening: bool = Field(
        default=False, description="live grants more than compiled, and this takes it away"
    )
    grants: list[str] = Field(
        default_factory=list, description="what it grants beyond what is live (redacted)"
    )
    findings: list[Finding] = Field(
        default_factory=list, description="before (live) and after (compiled), at each path"
    )
    commands: list[str] = Field(default_factory=list, description="what a person runs")
    calls: list[PlanCall] = Field(default_factory=list, description="every call it makes, in order")
    depends: list[str] = Field(
        default_factory=list, description="other objects it was decided from"
    )
    shared_by: list[str] = Field(default_factory=list)
    needs: list[list[str]] = Field(
        default_factory=list, description="[IAM action, resource ARN] its AWS calls need"
    )


class PlanDocument(_Frozen):
    """`airspec apply --plan-out plan.json`: what `apply plan.json --yes` will do, and
    everything it was decided from."""

    version: str = PLAN_VERSION
    airspec: str = Field(description="the airspec version that made it (applied only by the same)")
    created: str = Field(description="UTC, ISO 8601; a plan expires (apply --max-age)")
    request: PlanRequest
    specs: list[str]
    owners: dict[str, str]
    trees: dict[str, Tree] = Field(description="metadata.name -> the out/ tree planned from")
    reads: list[ReadVersion] = Field(description="every live object read, with its version")
    actions: list[PlanStep]
    in_sync: list[str] = Field(default_factory=list)
    aws_session_policy: dict[str, Any] | None = Field(
        default=None,
        description="AWS specs: an IAM policy allowing what applying this plan reads and "
        "writes, and nothing else (the inline session policy of the apply job's role)",
    )
    digest: str = Field(default="", description="sha256 of this document without this field")


def plan_json_schema() -> dict[str, Any]:
    return _json_schema(PlanDocument, "plan", f"airspec saved plan ({PLAN_VERSION})")
