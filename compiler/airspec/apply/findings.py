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
        description="usage | spec | identity | owner | stale | read | refused | failed | interrupted"
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


def apply_json_schema() -> dict[str, Any]:
    return _json_schema(ApplyDocument, "apply-result", f"airspec apply result ({APPLY_VERSION})")
